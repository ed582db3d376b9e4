#pragma once

#include <napi.h>

#include <vector>

#include "errors.h"

// freeze(pid, timeoutMs): seize and interrupt every thread; returns tids, leader first.
Napi::Value Freeze(const Napi::CallbackInfo& info);
// thaw(tids): put back injected state, detach every thread without a signal.
Napi::Value Thaw(const Napi::CallbackInfo& info);
// Puts back injected state and detaches each thread without a signal; a thread that died is
// passed over. The first other failure is returned, after every thread had its chance.
Status ThawThreads(const std::vector<int>& tids);
