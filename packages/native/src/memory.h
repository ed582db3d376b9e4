#pragma once

#include <napi.h>

#include <cstdint>
#include <utility>
#include <vector>

#include "errors.h"

// Writes into the target, through /proc/PID/mem where the page is not writable.
Status WriteTargetMemory(int pid, uint64_t address, const void* data, size_t size);
Status ReadTargetMemory(int pid, uint64_t address, void* data, size_t size);
// Copies (address, length) `ranges` back to back into `into` (process_vm_readv, pinned; two
// threads for a large copy), as readMemory does.
Status ReadPinnedRanges(int pid, const std::vector<std::pair<uint64_t, uint64_t>>& ranges, uint8_t* into);

Napi::Value ReadMemory(const Napi::CallbackInfo& info);
Napi::Value ReadMemoryRanges(const Napi::CallbackInfo& info);
Napi::Value WriteMemory(const Napi::CallbackInfo& info);
Napi::Value WriteMemoryRanges(const Napi::CallbackInfo& info);
