// An open file description of another process, read through a descriptor of cr's own on it
// (pidfd_getfd: the same description, not a new open, so reading changes nothing): the owner
// that SIGIO and SIGURG go to, and their signal.
#pragma once

#include <napi.h>

#include "errors.h"

// The fd `fd` of process `pid` duplicated into cr (close-on-exec), as `taken`.
Status TakeFd(int pid, long fd, int& taken);

// takeFd(pid, fd): TakeFd for JS; EBADF when the process has no such fd (closed meanwhile).
Napi::Value TakeFdMethod(const Napi::CallbackInfo& info);
// fileOwner(fd): { type, pid, signal, uid, euid } of cr's descriptor `fd`: F_GETOWN_EX (type
// F_OWNER_TID 0, F_OWNER_PID 1, F_OWNER_PGRP 2; pid 0 when there is none or it is gone),
// F_GETSIG (0: SIGIO), and F_GETOWNER_UIDS (the uids of whoever set the owner, which decide
// whom its signals may reach).
Napi::Value FileOwner(const Napi::CallbackInfo& info);
// The fcntl commands and flags, lock types and flock operations a restart injects (x86_64 uapi).
Napi::Object FcntlConstants(Napi::Env env);
