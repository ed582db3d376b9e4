#include "lz4.h"

#include <lz4.h>

#include <cerrno>
#include <climits>
#include <memory>
#include <utility>

#include "errors.h"
#include "pool_job.h"
#include "xxhash64.h"

namespace {

bool Bytes(const Napi::Value& v, Napi::Uint8Array& out) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) return false;
  out = v.As<Napi::Uint8Array>();
  return out.ByteLength() <= INT_MAX;
}

}  // namespace

Napi::Value Lz4Compress(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Uint8Array src, dst;
  if (info.Length() < 2 || !Bytes(info[0], src) || !Bytes(info[1], dst)) return ThrowType(env, "lz4Compress(src: Uint8Array, dst: Uint8Array)");
  int n = LZ4_compress_default(reinterpret_cast<const char*>(src.Data()), reinterpret_cast<char*>(dst.Data()), static_cast<int>(src.ByteLength()), static_cast<int>(dst.ByteLength()));
  return Napi::Number::New(env, n > 0 ? n : -1);
}

Napi::Value Lz4Decompress(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Uint8Array src, dst;
  if (info.Length() < 2 || !Bytes(info[0], src) || !Bytes(info[1], dst)) return ThrowType(env, "lz4Decompress(src: Uint8Array, dst: Uint8Array)");
  int n = LZ4_decompress_safe(reinterpret_cast<const char*>(src.Data()), reinterpret_cast<char*>(dst.Data()), static_cast<int>(src.ByteLength()), static_cast<int>(dst.ByteLength()));
  if (n != static_cast<int>(dst.ByteLength())) return Throw(env, Failure{EINVAL, "LZ4_decompress_safe", 0, std::nullopt, "", "a malformed LZ4 block, or one of another length"});
  return env.Undefined();
}

Napi::Value Lz4CompressBlock(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Uint8Array src, dst;
  if (info.Length() < 2 || !Bytes(info[0], src) || !Bytes(info[1], dst)) return ThrowType(env, "lz4CompressBlock(src: Uint8Array, dst: Uint8Array)");
  Napi::Object keep = Napi::Object::New(env);
  keep.Set("src", src);
  keep.Set("dst", dst);
  auto from = reinterpret_cast<const char*>(src.Data());
  auto into = reinterpret_cast<char*>(dst.Data());
  int srcLength = static_cast<int>(src.ByteLength()), dstLength = static_cast<int>(dst.ByteLength());
  auto out = std::make_shared<std::pair<int, uint64_t>>();
  auto work = [=]() -> Status {
    int n = LZ4_compress_default(from, into, srcLength, dstLength);
    out->first = n > 0 ? n : -1;
    out->second = n > 0 ? Xxh64(reinterpret_cast<const uint8_t*>(into), n) : Xxh64(reinterpret_cast<const uint8_t*>(from), srcLength);
    return std::nullopt;
  };
  auto result = [out](Napi::Env e) -> Napi::Value {
    Napi::Array pair = Napi::Array::New(e, 2);
    pair.Set(0u, Napi::Number::New(e, out->first));
    pair.Set(1u, Napi::BigInt::New(e, out->second));
    return pair;
  };
  return StartPoolJob(env, keep, work, result);
}
