// timerfds: a timer on a clock whose expirations are read from a descriptor (timerfd_create(2)),
// read at checkpoint and made again at restart.
#pragma once

#include <napi.h>

// catchUpTimerfd(fd): timerfd_gettime on cr's descriptor of a timerfd. The kernel re-arms a
// periodic timer that fired only when its expirations are read or its time is asked: this adds
// the ones since to its ticks and arms it for the next, as a read would, so that fdinfo then
// shows every expiration and the time left to the next.
Napi::Value CatchUpTimerfd(const Napi::CallbackInfo& info);
// createTimerfd(clockid, flags, settimeFlags, valueNs: bigint, intervalNs: bigint, ticks: bigint):
// a new timerfd in this process, close-on-exec, non-blocking if `flags` has TFD_NONBLOCK, armed
// with `settimeFlags` to fire after the time left `valueNs` (0: disarmed; with TFD_TIMER_ABSTIME,
// at the clock's now + valueNs) and every `intervalNs` after, holding `ticks` unread expirations
// (TFD_IOC_SET_TICKS, after timerfd_settime, which clears them).
Napi::Value CreateTimerfd(const Napi::CallbackInfo& info);
