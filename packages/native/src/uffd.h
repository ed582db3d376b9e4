#pragma once

#include <napi.h>

// registerWriteTracking(tid, ranges): userfaultfd WP_ASYNC registration in the target's mm.
Napi::Value RegisterWriteTracking(const Napi::CallbackInfo& info);
