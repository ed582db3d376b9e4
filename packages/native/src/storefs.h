// File-system calls the store needs and Node does not offer.
#pragma once

#include <napi.h>
#include <sys/types.h>

#include <cstdint>

#include "errors.h"

// pread of `length` bytes at `position` into `into`: all of them (EINTR retried), or a failure
// (EIO when the file ends first).
Status PreadFully(int fd, uint8_t* into, size_t length, off_t position);

// lockFile(fd, "exclusive" | "shared" | "unlock", wait = true): boolean (false: busy, !wait)
Napi::Value LockFile(const Napi::CallbackInfo& info);
// alignedBuffer(bytes): a Buffer whose memory starts on a 4096-byte boundary, as O_DIRECT needs
Napi::Value AlignedBuffer(const Napi::CallbackInfo& info);
// readHashed(fd, into, length, position, tail): Promise<bigint>, on the pool: reads `length` bytes
// at `position` into `into`, and resolves with the XXH64 of the last `tail` of them
Napi::Value ReadHashed(const Napi::CallbackInfo& info);
// xxh64(data): bigint, XXH64 (seed 0) of a buffer
Napi::Value Xxh64Of(const Napi::CallbackInfo& info);
Napi::Value Xxh64Pages(const Napi::CallbackInfo& info);
