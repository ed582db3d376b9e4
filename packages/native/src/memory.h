#pragma once

#include <napi.h>

#include <cstdint>

#include "errors.h"

// Writes into the target, through /proc/PID/mem where the page is not writable.
Status WriteTargetMemory(int pid, uint64_t address, const void* data, size_t size);
Status ReadTargetMemory(int pid, uint64_t address, void* data, size_t size);

Napi::Value ReadMemory(const Napi::CallbackInfo& info);
Napi::Value ReadMemoryRanges(const Napi::CallbackInfo& info);
Napi::Value WriteMemory(const Napi::CallbackInfo& info);
Napi::Value WriteMemoryRanges(const Napi::CallbackInfo& info);
