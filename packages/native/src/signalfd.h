// signalfds: a descriptor that reads the signals of a mask pending for its reader (signalfd(2)),
// made again at restart.
#pragma once

#include <napi.h>

// createSignalfd(mask: bigint, flags): a new signalfd in this process, close-on-exec, for the
// signals of `mask` (bit N-1: signal N, as fdinfo's sigmask shows it), non-blocking if `flags`
// has SFD_NONBLOCK.
Napi::Value CreateSignalfd(const Napi::CallbackInfo& info);
