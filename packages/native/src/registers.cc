// Per-thread CPU and signal state read and written through ptrace regsets.
#include "registers.h"

#include <elf.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "args.h"
#include "inject.h"
#include "kerndat.h"
#include "kernel_abi.h"

namespace {

constexpr size_t kFxsaveSize = 512;  // NT_PRFPREG: the legacy FXSAVE image
constexpr size_t kSiginfoSize = 128;

Status GetRegset(int tid, int type, void* data, size_t& size, const char* name) {
  iovec iov{data, size};
  if (ptrace(PTRACE_GETREGSET, tid, reinterpret_cast<void*>(static_cast<long>(type)), &iov) != 0) return SysFailure(name, tid);
  size = iov.iov_len;  // the kernel says how much it filled
  return std::nullopt;
}

Status SetRegset(int tid, int type, const void* data, size_t size, const char* name) {
  iovec iov{const_cast<void*>(data), size};
  if (ptrace(PTRACE_SETREGSET, tid, reinterpret_cast<void*>(static_cast<long>(type)), &iov) != 0) return SysFailure(name, tid);
  return std::nullopt;
}

Napi::Value CopyToBuffer(Napi::Env env, const void* data, size_t size) {
  return Napi::Buffer<uint8_t>::Copy(env, static_cast<const uint8_t*>(data), size);
}

// XSAVE may be absent (old CPUs, some VMs): the FXSAVE regset is the universal fallback.
Status GetXStateBytes(int tid, std::vector<uint8_t>& out) {
  out.assign(std::max<size_t>(XStateSize(), 4096), 0);
  size_t size = out.size();
  Status s = GetRegset(tid, NT_X86_XSTATE, out.data(), size, "ptrace(PTRACE_GETREGSET, NT_X86_XSTATE)");
  if (s && (s->err == ENODEV || s->err == EINVAL)) {
    size = kFxsaveSize;
    s = GetRegset(tid, NT_PRFPREG, out.data(), size, "ptrace(PTRACE_GETREGSET, NT_PRFPREG)");
  }
  out.resize(size);
  return s;
}

}  // namespace

Status GetRegsRaw(int tid, user_regs_struct& regs) {
  size_t size = sizeof regs;
  return GetRegset(tid, NT_PRSTATUS, &regs, size, "ptrace(PTRACE_GETREGSET, NT_PRSTATUS)");
}

Status SetRegsRaw(int tid, const user_regs_struct& regs) {
  return SetRegset(tid, NT_PRSTATUS, &regs, sizeof regs, "ptrace(PTRACE_SETREGSET, NT_PRSTATUS)");
}

Status GetSigmaskRaw(int tid, uint64_t& mask) {
  if (ptrace(PTRACE_GETSIGMASK, tid, reinterpret_cast<void*>(sizeof mask), &mask) != 0) return SysFailure("ptrace(PTRACE_GETSIGMASK)", tid);
  return std::nullopt;
}

Status SetSigmaskRaw(int tid, uint64_t mask) {
  if (ptrace(PTRACE_SETSIGMASK, tid, reinterpret_cast<void*>(sizeof mask), &mask) != 0) return SysFailure("ptrace(PTRACE_SETSIGMASK)", tid);
  return std::nullopt;
}

Napi::Value GetRegs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int tid = 0;
  if (!ArgInt(info, 0, "tid", tid)) return env.Undefined();
  if (Status s = RestoreInjectedState(tid)) return Throw(env, *s);  // a parked thread: its own state
  user_regs_struct regs{};
  if (Status s = GetRegsRaw(tid, regs)) return Throw(env, *s);
  return CopyToBuffer(env, &regs, sizeof regs);
}

Napi::Value SetRegs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int tid = 0;
  Napi::Buffer<uint8_t> buffer;
  if (!ArgInt(info, 0, "tid", tid) || !ArgBuffer(info, 1, "regs", buffer)) return env.Undefined();
  user_regs_struct regs{};
  if (buffer.Length() != sizeof regs) return ThrowType(env, "regs must be " + std::to_string(sizeof regs) + " bytes");
  std::memcpy(&regs, buffer.Data(), sizeof regs);
  if (Status s = RestoreInjectedState(tid)) return Throw(env, *s);  // a parked thread: its own state
  if (Status s = SetRegsRaw(tid, regs)) return Throw(env, *s);
  return env.Undefined();
}

Napi::Value GetXState(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int tid = 0;
  if (!ArgInt(info, 0, "tid", tid)) return env.Undefined();
  std::vector<uint8_t> bytes;
  if (Status s = GetXStateBytes(tid, bytes)) return Throw(env, *s);
  return CopyToBuffer(env, bytes.data(), bytes.size());
}

// A 512-byte buffer is what the NT_PRFPREG fallback produced; anything else is XSAVE.
Napi::Value SetXState(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int tid = 0;
  Napi::Buffer<uint8_t> buffer;
  if (!ArgInt(info, 0, "tid", tid) || !ArgBuffer(info, 1, "xstate", buffer)) return env.Undefined();
  Status s = buffer.Length() == kFxsaveSize
                 ? SetRegset(tid, NT_PRFPREG, buffer.Data(), buffer.Length(), "ptrace(PTRACE_SETREGSET, NT_PRFPREG)")
                 : SetRegset(tid, NT_X86_XSTATE, buffer.Data(), buffer.Length(), "ptrace(PTRACE_SETREGSET, NT_X86_XSTATE)");
  if (s) return Throw(env, *s);
  return env.Undefined();
}

Napi::Value GetSigmask(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int tid = 0;
  if (!ArgInt(info, 0, "tid", tid)) return env.Undefined();
  if (Status s = RestoreInjectedState(tid)) return Throw(env, *s);  // a parked thread: its own state
  uint64_t mask = 0;
  if (Status s = GetSigmaskRaw(tid, mask)) return Throw(env, *s);
  return BigU64(env, mask);
}

Napi::Value SetSigmask(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int tid = 0;
  uint64_t mask = 0;
  if (!ArgInt(info, 0, "tid", tid) || !ArgU64(info, 1, "mask", mask)) return env.Undefined();
  if (Status s = RestoreInjectedState(tid)) return Throw(env, *s);  // a parked thread: its own state
  if (Status s = SetSigmaskRaw(tid, mask)) return Throw(env, *s);
  return env.Undefined();
}

Napi::Value GetRseq(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int tid = 0;
  if (!ArgInt(info, 0, "tid", tid)) return env.Undefined();
  __ptrace_rseq_configuration conf{};
  if (ptrace(PTRACE_GET_RSEQ_CONFIGURATION, tid, reinterpret_cast<void*>(sizeof conf), &conf) < 0) {
    return Throw(env, SysFailure("ptrace(PTRACE_GET_RSEQ_CONFIGURATION)", tid));
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("address", BigU64(env, conf.rseq_abi_pointer));
  out.Set("length", conf.rseq_abi_size);
  out.Set("signature", conf.signature);
  out.Set("flags", conf.flags);
  return out;
}

// get_robust_list works on another thread directly (ptrace-read access suffices).
Napi::Value GetRobustList(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int tid = 0;
  if (!ArgInt(info, 0, "tid", tid)) return env.Undefined();
  uint64_t head = 0;
  size_t length = 0;
  if (syscall(SYS_get_robust_list, tid, &head, &length) != 0) return Throw(env, SysFailure("get_robust_list", tid));
  Napi::Object out = Napi::Object::New(env);
  out.Set("head", BigU64(env, head));
  out.Set("length", BigU64(env, length));
  return out;
}

Napi::Value PeekPendingSignals(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int tid = 0;
  if (!ArgInt(info, 0, "tid", tid)) return env.Undefined();
  bool shared = info.Length() > 1 && info[1].ToBoolean().Value();
  Napi::Array out = Napi::Array::New(env);
  for (uint32_t offset = 0;; offset++) {
    uint8_t siginfo[kSiginfoSize];
    __ptrace_peeksiginfo_args args{offset, shared ? static_cast<uint32_t>(PTRACE_PEEKSIGINFO_SHARED) : 0u, 1};
    long n = ptrace(PTRACE_PEEKSIGINFO, tid, &args, siginfo);
    if (n < 0) return Throw(env, SysFailure("ptrace(PTRACE_PEEKSIGINFO)", tid));
    if (n == 0) return out;
    out.Set(offset, CopyToBuffer(env, siginfo, sizeof siginfo));
  }
}
