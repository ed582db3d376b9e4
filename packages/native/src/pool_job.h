// Work for libuv's thread pool that settles a promise, so the caller's thread goes on meanwhile
// (a restart reads and checks the next batch while the last one is written; blocks are read and
// hashed ahead of their use).
#pragma once

#include <napi.h>

#include <functional>

#include "errors.h"

// `work` runs on the pool and must touch no JS value; `keep` (the JS buffer it uses) is held
// until the promise settles. Then `result` makes the resolved value on the caller's thread, or a
// failure rejects the promise with a NativeError.
Napi::Promise StartPoolJob(Napi::Env env, Napi::Object keep, std::function<Status()> work, std::function<Napi::Value(Napi::Env)> result);
