// What the programs cr starts get: real pipes (Node's child_process gives children socketpairs,
// which a process cannot be checkpointed with), and none of the descriptors cr inherited.
#pragma once

#include <napi.h>

// createPipe(): [readFd, writeFd], both O_CLOEXEC (a child gets only the ends passed to it).
Napi::Value CreatePipe(const Napi::CallbackInfo& info);
// closeOnExecFrom(first): every descriptor from `first` on becomes close-on-exec (close_range), so
// descriptors cr inherited without that flag (a pipe of the shell that started it) reach no child.
Napi::Value CloseOnExecFrom(const Napi::CallbackInfo& info);
