#pragma once

#include <napi.h>

#include <cstdint>

#include "errors.h"

// Write-protects [start, end) of a uffd-WP_ASYNC-registered range (PAGEMAP_SCAN, WP_MATCHING).
Status WriteProtectRange(int pid, uint64_t start, uint64_t end);

Napi::Value ReadPagemap(const Napi::CallbackInfo& info);
Napi::Value PagemapScan(const Napi::CallbackInfo& info);
Napi::Value PagemapScanRanges(const Napi::CallbackInfo& info);
Napi::Value PagemapScanRangesAsync(const Napi::CallbackInfo& info);
Napi::Object PageCategoryConstants(Napi::Env env);
