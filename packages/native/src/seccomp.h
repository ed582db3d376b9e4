#pragma once

#include <napi.h>

// seccompFilters(tid): the thread's filters, oldest first, each {flags, program} (a stopped tracee).
Napi::Value SeccompFilters(const Napi::CallbackInfo& info);
// suspendSeccomp(tid): a seized thread's syscalls, injected ones too, bypass its filters until detach.
Napi::Value SuspendSeccomp(const Napi::CallbackInfo& info);
