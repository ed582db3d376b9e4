// Frozen copies: a copy-on-write child of a frozen process, made by an injected clone, whose
// memory is the process's memory at the instant of the snapshot while the process runs on
// (docs/checkpoint.md, "Copy-on-write"). The child never runs: it stops before its first
// instruction, traced by cr, and is killed when cr has read it or when cr dies.
#pragma once

#include <napi.h>

// The comm of every frozen copy (PR_SET_NAME keeps 15 bytes).
constexpr char kFrozenCopyName[] = "cr-frozen-copy";

// forkFrozenCopy(tid): a new frozen copy of the frozen thread's process, { pid, reapedFaults }:
// the copy is an orphan (its go-between, the process's child, is reaped before this returns,
// and `reapedFaults` are its page faults, now among the process's reaped children's).
Napi::Value ForkFrozenCopy(const Napi::CallbackInfo& info);
// dropFrozenCopy(pid): kills the copy at once, and resolves once it is gone (waited for as its
// tracer, on the thread pool); its parent (init, or a subreaper above the process) reaps it.
Napi::Value DropFrozenCopy(const Napi::CallbackInfo& info);
