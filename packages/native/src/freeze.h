#pragma once

#include <napi.h>

// freeze(pid, timeoutMs): seize and interrupt every thread; returns tids, leader first.
Napi::Value Freeze(const Napi::CallbackInfo& info);
// thaw(tids): put back injected state, detach every thread without a signal.
Napi::Value Thaw(const Napi::CallbackInfo& info);
