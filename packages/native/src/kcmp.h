// Whether two descriptors share one open file description (dup, fork): what /proc does not say.
#pragma once

#include <napi.h>

// sameOpenFile(pid, fdA, fdB): true if fds A and B of process `pid` are one open file
// description (kcmp KCMP_FILE); an fd closed meanwhile throws EBADF.
Napi::Value SameOpenFile(const Napi::CallbackInfo& info);
