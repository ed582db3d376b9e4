#pragma once

#include <napi.h>

// secureWritten(members, returnMask, into, thaw): scans each member's tracked ranges for written
// pages ({pid, armed, unarmed, extra, copyAtMost}: armed re-armed, unarmed only read); when every
// member's pages to copy (the written ones that hold a page, and `extra`) are within its
// copyAtMost and fit `into`, copies them there in address order, member after member, and thaws
// the threads `thaw`. Returns {scans: per member [armed, unarmed] (start, end, categories)
// triples, or null where a mapping lost its registration; copied; bytes: per member, its pages
// to copy}. Not copied: still frozen.
Napi::Value SecureWritten(const Napi::CallbackInfo& info);
