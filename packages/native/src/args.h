// Argument checks for the thin C++ methods: each returns false after throwing a TypeError,
// so a method reads `if (!ArgInt(info, 0, "tid", tid)) return env.Undefined();`.
#pragma once

#include <napi.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "errors.h"

inline bool ArgInt(const Napi::CallbackInfo& info, size_t i, const char* name, int& out) {
  if (info.Length() <= i || !info[i].IsNumber()) {
    ThrowType(info.Env(), std::string(name) + " must be a number");
    return false;
  }
  out = info[i].As<Napi::Number>().Int32Value();
  return true;
}

inline bool ArgBool(const Napi::CallbackInfo& info, size_t i, const char* name, bool& out) {
  if (info.Length() <= i || !info[i].IsBoolean()) {
    ThrowType(info.Env(), std::string(name) + " must be a boolean");
    return false;
  }
  out = info[i].As<Napi::Boolean>().Value();
  return true;
}

inline bool ArgString(const Napi::CallbackInfo& info, size_t i, const char* name, std::string& out) {
  if (info.Length() <= i || !info[i].IsString()) {
    ThrowType(info.Env(), std::string(name) + " must be a string");
    return false;
  }
  out = info[i].As<Napi::String>().Utf8Value();
  return true;
}

inline bool ArgU64(const Napi::CallbackInfo& info, size_t i, const char* name, uint64_t& out) {
  bool lossless = true;
  if (info.Length() > i && info[i].IsBigInt()) {
    out = info[i].As<Napi::BigInt>().Uint64Value(&lossless);
    if (lossless) return true;
  }
  ThrowType(info.Env(), std::string(name) + " must be a bigint in 0..2^64-1");
  return false;
}

inline bool ArgBuffer(const Napi::CallbackInfo& info, size_t i, const char* name, Napi::Buffer<uint8_t>& out) {
  if (info.Length() <= i || !info[i].IsBuffer()) {
    ThrowType(info.Env(), std::string(name) + " must be a Buffer");
    return false;
  }
  out = info[i].As<Napi::Buffer<uint8_t>>();
  return true;
}

// A BigUint64Array of (a, b) pairs, e.g. address ranges: any value (an argument, or an
// object's property named `name`).
inline bool PairsOf(Napi::Env env, Napi::Value value, const std::string& name, std::vector<std::pair<uint64_t, uint64_t>>& out) {
  if (value.IsTypedArray()) {
    auto array = value.As<Napi::TypedArray>();
    if (array.TypedArrayType() == napi_biguint64_array && array.ElementLength() % 2 == 0) {
      auto typed = value.As<Napi::TypedArrayOf<uint64_t>>();
      for (size_t k = 0; k < typed.ElementLength(); k += 2) out.emplace_back(typed[k], typed[k + 1]);
      return true;
    }
  }
  ThrowType(env, name + " must be a BigUint64Array of pairs");
  return false;
}

inline bool ArgPairs(const Napi::CallbackInfo& info, size_t i, const char* name, std::vector<std::pair<uint64_t, uint64_t>>& out) {
  return PairsOf(info.Env(), info.Length() > i ? info[i] : info.Env().Undefined(), name, out);
}

// A Float64Array of (a, b, c) triples of whole numbers, e.g. offsets and lengths.
inline bool ArgTriples(const Napi::CallbackInfo& info, size_t i, const char* name, std::vector<std::array<uint64_t, 3>>& out) {
  if (info.Length() > i && info[i].IsTypedArray() && info[i].As<Napi::TypedArray>().TypedArrayType() == napi_float64_array) {
    auto typed = info[i].As<Napi::Float64Array>();
    if (typed.ElementLength() % 3 == 0) {
      for (size_t k = 0; k < typed.ElementLength(); k += 3) {
        if (!(typed[k] >= 0 && typed[k + 1] >= 0 && typed[k + 2] >= 0)) break;
        out.push_back({static_cast<uint64_t>(typed[k]), static_cast<uint64_t>(typed[k + 1]), static_cast<uint64_t>(typed[k + 2])});
      }
      if (out.size() * 3 == typed.ElementLength()) return true;
    }
  }
  ThrowType(info.Env(), std::string(name) + " must be a Float64Array of non-negative triples");
  return false;
}

inline bool ArgIntArray(const Napi::CallbackInfo& info, size_t i, const char* name, std::vector<int>& out) {
  if (info.Length() <= i || !info[i].IsArray()) {
    ThrowType(info.Env(), std::string(name) + " must be an array of numbers");
    return false;
  }
  auto array = info[i].As<Napi::Array>();
  for (uint32_t k = 0; k < array.Length(); k++) {
    Napi::Value v = array.Get(k);
    if (!v.IsNumber()) {
      ThrowType(info.Env(), std::string(name) + " must be an array of numbers");
      return false;
    }
    out.push_back(v.As<Napi::Number>().Int32Value());
  }
  return true;
}

inline Napi::BigInt BigU64(Napi::Env env, uint64_t v) { return Napi::BigInt::New(env, v); }
