// Real pipes for JavaScript: Node's child_process gives children socketpairs, which a process
// cannot be checkpointed with; cr's own helpers and tests hand programs pipes instead.
#pragma once

#include <napi.h>

// createPipe(): [readFd, writeFd], both O_CLOEXEC (a child gets only the ends passed to it).
Napi::Value CreatePipe(const Napi::CallbackInfo& info);
