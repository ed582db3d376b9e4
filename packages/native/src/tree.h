// Process tree restore: the children of a restored process are created by it.
#pragma once

#include <napi.h>

// cloneStub(parentPid, childPid): a child of the stopped, traced stub parentPid, created by an
// injected clone3 (set_tid = childPid unless 0), stopped and traced like any stub; its pid.
Napi::Value CloneStub(const Napi::CallbackInfo& info);
// makeZombie(pid, code, signal): the stub exits with code (signal 0) or dies of signal, and
// stays a zombie of its real parent, unreaped.
Napi::Value MakeZombie(const Napi::CallbackInfo& info);
