#pragma once

#include <napi.h>

#include <cstddef>

// Size of the XSAVE area for the features this CPU and kernel enable (CPUID 0xD.0 EBX).
size_t XStateSize();

// probeKernel(): one-time probe of dirty-tracking features; the result is cached.
Napi::Value ProbeKernel(const Napi::CallbackInfo& info);
