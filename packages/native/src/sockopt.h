// getsockopt/setsockopt of the shapes socket options come in, shared by the UNIX and the
// network socket modules: an int, a struct timeval (as microseconds), a buffer size.
#pragma once

#include "errors.h"

Status GetSockInt(int fd, int level, int option, int& value);
Status SetSockInt(int fd, int level, int option, int value);
// SO_RCVTIMEO, SO_SNDTIMEO: a struct timeval, as microseconds.
Status GetSockMicros(int fd, int option, double& micros);
Status SetSockMicros(int fd, int option, double micros);
// A buffer size as getsockopt gives it (the kernel doubles what is set): forced past the
// sysctl limit with CAP_NET_ADMIN (`force`: SO_SNDBUFFORCE, SO_RCVBUFFORCE), else as far as that
// limit allows (`plain`).
Status SetSockBuffer(int fd, int force, int plain, int doubled);
