// XXH64 (seed 0), the hash of every chunk body of the image format: native so that blocks read
// on libuv's pool are hashed there too, off the main thread.
#pragma once

#include <cstddef>
#include <cstdint>

uint64_t Xxh64(const uint8_t* data, size_t length);
