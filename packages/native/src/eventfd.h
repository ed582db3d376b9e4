// eventfds: a 64-bit counter object (eventfd(2)), made again at restart.
#pragma once

#include <napi.h>

// createEventfd(count: bigint, flags): a new eventfd in this process, close-on-exec, holding
// `count` (any value up to 2^64 - 2: eventfd's own initial value is 32 bits, so the count is
// written into it), with `flags` (EFD_SEMAPHORE, EFD_NONBLOCK) as saved.
Napi::Value CreateEventfd(const Napi::CallbackInfo& info);
