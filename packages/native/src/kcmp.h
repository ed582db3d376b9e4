// Whether two descriptors share one open file description (dup, fork): what /proc does not say.
#pragma once

#include <napi.h>

// sameOpenFile(pidA, fdA, pidB, fdB): true if fd A of process A and fd B of process B are one
// open file description (kcmp KCMP_FILE: dup, or inherited by fork); an fd closed meanwhile
// throws EBADF.
Napi::Value SameOpenFile(const Napi::CallbackInfo& info);

// sameMemory(pidA, pidB): true if the two processes share one address space (kcmp KCMP_VM): a
// vfork child before its exec, or a clone(CLONE_VM) without CLONE_THREAD.
Napi::Value SameMemory(const Napi::CallbackInfo& info);
