#pragma once

#include <napi.h>
#include <sys/user.h>

#include "errors.h"

Status GetRegsRaw(int tid, user_regs_struct& regs);
Status SetRegsRaw(int tid, const user_regs_struct& regs);
Status GetSigmaskRaw(int tid, uint64_t& mask);
Status SetSigmaskRaw(int tid, uint64_t mask);

Napi::Value GetRegs(const Napi::CallbackInfo& info);
Napi::Value SetRegs(const Napi::CallbackInfo& info);
Napi::Value GetXState(const Napi::CallbackInfo& info);
Napi::Value SetXState(const Napi::CallbackInfo& info);
Napi::Value GetSigmask(const Napi::CallbackInfo& info);
Napi::Value SetSigmask(const Napi::CallbackInfo& info);
Napi::Value GetRseq(const Napi::CallbackInfo& info);
Napi::Value GetRobustList(const Napi::CallbackInfo& info);
Napi::Value PeekPendingSignals(const Napi::CallbackInfo& info);
