#include "sockopt.h"

#include <sys/socket.h>
#include <sys/time.h>

#include <cerrno>
#include <string>

Status GetSockInt(int fd, int level, int option, int& value) {
  socklen_t length = sizeof value;
  if (getsockopt(fd, level, option, &value, &length) < 0) return SysFailure("getsockopt " + std::to_string(level) + ":" + std::to_string(option));
  return std::nullopt;
}

Status SetSockInt(int fd, int level, int option, int value) {
  if (setsockopt(fd, level, option, &value, sizeof value) < 0) return SysFailure("setsockopt " + std::to_string(level) + ":" + std::to_string(option));
  return std::nullopt;
}

Status GetSockMicros(int fd, int option, double& micros) {
  timeval tv{};
  socklen_t length = sizeof tv;
  if (getsockopt(fd, SOL_SOCKET, option, &tv, &length) < 0) return SysFailure("getsockopt " + std::to_string(option));
  micros = static_cast<double>(tv.tv_sec) * 1e6 + static_cast<double>(tv.tv_usec);
  return std::nullopt;
}

Status SetSockMicros(int fd, int option, double micros) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(micros / 1e6);
  tv.tv_usec = static_cast<suseconds_t>(micros - static_cast<double>(tv.tv_sec) * 1e6);
  if (setsockopt(fd, SOL_SOCKET, option, &tv, sizeof tv) < 0) return SysFailure("setsockopt " + std::to_string(option));
  return std::nullopt;
}

Status SetSockBuffer(int fd, int force, int plain, int doubled) {
  Status s = SetSockInt(fd, SOL_SOCKET, force, doubled / 2);
  if (s && s->err == EPERM) return SetSockInt(fd, SOL_SOCKET, plain, doubled / 2);
  return s;
}
