// LZ4 blocks of page data, by the reference library (liblz4): what images hold when written
// with --lz4. The block format is LZ4's own, so the TypeScript decoder of @cr/format reads them.
#pragma once

#include <napi.h>

// lz4Compress(src, dst): compresses `src` into `dst` as one LZ4 block; the compressed length, or
// -1 when it does not fit in `dst` (a `dst` shorter than `src` keeps only blocks that shrink).
Napi::Value Lz4Compress(const Napi::CallbackInfo& info);
// lz4Decompress(src, dst): decodes one LZ4 block into exactly dst.length bytes; throws EINVAL
// on a malformed block or one of another length.
Napi::Value Lz4Decompress(const Napi::CallbackInfo& info);
// lz4CompressBlock(src, dst): the same on libuv's pool, so that blocks compress on other cores
// while cr reads and writes the next ones; resolves [compressed length or -1, xxh64 of the body
// the block is written with: the compressed bytes, or src when they did not fit].
Napi::Value Lz4CompressBlock(const Napi::CallbackInfo& info);
