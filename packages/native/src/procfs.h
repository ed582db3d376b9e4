// Small readers for /proc/PID files, shared by the kernel-facing files.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "errors.h"

// Owns a file descriptor; closes it on scope exit.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  Fd(Fd&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  Fd& operator=(Fd&& other) noexcept {
    std::swap(fd_, other.fd_);
    return *this;
  }
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  int get() const { return fd_; }
  bool ok() const { return fd_ >= 0; }
  // Hands the descriptor over (to JavaScript): no longer closed here.
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

struct Vma {
  uint64_t start = 0;
  uint64_t end = 0;
  std::string perms;  // "r-xp"
  uint64_t offset = 0;
  std::string name;   // path, "[vdso]", or empty for anonymous
};

std::string ProcPath(int pid, const char* file);
Status OpenProc(int pid, const char* file, int flags, Fd& out);
Status ReadTextFile(const std::string& path, std::string& out, int pid = 0);
Status ListTasks(int pid, std::vector<int>& tids);
// The value of "Key:" in /proc/PID/status, trimmed; empty if absent or unreadable.
std::string StatusField(int pid, const char* key);
Status ReadMaps(int pid, std::vector<Vma>& out);
