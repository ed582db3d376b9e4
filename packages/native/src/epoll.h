// epoll instances: made again at restart, and the check that a watch's descriptor number still
// names the file it was registered with.
#pragma once

#include <napi.h>

// createEpoll(flags): a new epoll instance in this process, close-on-exec, with O_NONBLOCK when
// `flags` has it (epoll_create1 takes only EPOLL_CLOEXEC; fcntl sets the rest).
Napi::Value CreateEpoll(const Napi::CallbackInfo& info);

// epollWatchIs(pid, epfd, tfd, toff, fd): true if the file watched by process `pid`'s epoll
// `epfd` under descriptor number `tfd` (the `toff`-th such watch, in fdinfo order) is the open
// file description of its fd `fd` (kcmp KCMP_EPOLL_TFD). A watch outlives the closing of its
// descriptor while a dup holds the file, so the number alone proves nothing. Throws ENOENT when
// there is no such watch, EBADF when `fd` is closed.
Napi::Value EpollWatchIs(const Napi::CallbackInfo& info);
