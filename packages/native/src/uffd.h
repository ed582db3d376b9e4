#pragma once

#include <napi.h>

// registerWriteTracking(tid, ranges): userfaultfd WP_ASYNC registration in the target's mm.
Napi::Value RegisterWriteTracking(const Napi::CallbackInfo& info);

// openFillUffd(tid, ranges): a MISSING-registered uffd of the target's mm, for UFFDIO_COPY fills.
Napi::Value OpenFillUffd(const Napi::CallbackInfo& info);
