// What the programs cr starts get: real pipes (Node's child_process gives children socketpairs,
// which a process cannot be checkpointed with), and none of the descriptors cr inherited.
#pragma once

#include <napi.h>

// createPipe(): [readFd, writeFd], both O_CLOEXEC (a child gets only the ends passed to it).
Napi::Value CreatePipe(const Napi::CallbackInfo& info);
// closeOnExecFrom(first): every descriptor from `first` on becomes close-on-exec (close_range), so
// descriptors cr inherited without that flag (a pipe of the shell that started it) reach no child.
Napi::Value CloseOnExecFrom(const Napi::CallbackInfo& info);
// peekPipe(path): the bytes buffered in the pipe or FIFO `path` names (/proc/PID/fd/N), left in
// place: tee(2) duplicates them into a pipe of cr's own, sized like the source, and cr reads that.
Napi::Value PeekPipe(const Napi::CallbackInfo& info);
// fillPipe(writeFd, bytes): writes `bytes` into the pipe, grown first (F_SETPIPE_SZ) if they would
// not fit, so a restored reader finds what was buffered at the checkpoint and cr never blocks.
Napi::Value FillPipe(const Napi::CallbackInfo& info);
// pipeCapacity(fd): F_GETPIPE_SZ of cr's descriptor on a pipe or FIFO, in bytes.
Napi::Value PipeCapacity(const Napi::CallbackInfo& info);
// setPipeCapacity(fd, bytes): F_SETPIPE_SZ; returns the capacity the kernel gave (bytes rounded up
// to a power-of-two number of pages). EPERM above /proc/sys/fs/pipe-max-size without
// CAP_SYS_RESOURCE, EBUSY below what the pipe holds.
Napi::Value SetPipeCapacity(const Napi::CallbackInfo& info);
// { PIPE_DEFAULT_SIZE }: the capacity of a new pipe, in bytes.
Napi::Object PipeConstants(Napi::Env env);
// mkfifo(path, mode): creates a FIFO (Node has no mkfifo), for a removed one recreated at restart.
Napi::Value MakeFifo(const Napi::CallbackInfo& info);
