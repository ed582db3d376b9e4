#pragma once

#include <napi.h>

#include <cstdint>
#include <utility>
#include <vector>

#include "errors.h"
#include "kernel_abi.h"

// What a PAGEMAP_SCAN asks for (pm_scan_arg, with the category bits as plain values).
struct ScanOptions {
  bool writeProtect = false;
  uint64_t categories = 0;    // values required on the masked bits
  uint64_t categoryMask = 0;  // bits that must equal `categories`
  uint64_t categoryAnyof = 0;
  uint64_t returnMask = 0;
  uint64_t maxPages = 0;  // 0: no limit
};

// PAGEMAP_SCAN of each [start, end) range in turn through one open of the pagemap of `pid`,
// each until the walk reaches its end, or until o.maxPages pages were returned in all.
Status Scan(int pid, const std::vector<std::pair<uint64_t, uint64_t>>& ranges, const ScanOptions& o, std::vector<page_region>& out);

// (start, end, categories) triples, as pagemapScan returns them.
Napi::Value RegionTriples(Napi::Env env, const std::vector<page_region>& regions);

// Write-protects [start, end) of a uffd-WP_ASYNC-registered range (PAGEMAP_SCAN, WP_MATCHING).
Status WriteProtectRange(int pid, uint64_t start, uint64_t end);

Napi::Value ReadPagemap(const Napi::CallbackInfo& info);
Napi::Value PagemapScan(const Napi::CallbackInfo& info);
Napi::Value PagemapScanRanges(const Napi::CallbackInfo& info);
Napi::Value PagemapScanRangesAsync(const Napi::CallbackInfo& info);
Napi::Object PageCategoryConstants(Napi::Env env);
