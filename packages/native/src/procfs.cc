#include "procfs.h"

#include <dirent.h>
#include <fcntl.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <sstream>

std::string ProcPath(int pid, const char* file) { return "/proc/" + std::to_string(pid) + "/" + file; }

Status OpenProc(int pid, const char* file, int flags, Fd& out) {
  std::string path = ProcPath(pid, file);
  Fd fd(open(path.c_str(), flags | O_CLOEXEC));
  if (!fd.ok()) {
    Failure f = SysFailure("open", pid);
    f.path = path;
    return f;
  }
  out = std::move(fd);
  return std::nullopt;
}

Status ReadTextFile(const std::string& path, std::string& out, int pid) {
  Fd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.ok()) {
    Failure f = SysFailure("open", pid);
    f.path = path;
    return f;
  }
  char buf[65536];
  out.clear();
  for (;;) {
    ssize_t n = read(fd.get(), buf, sizeof buf);
    if (n == 0) return std::nullopt;
    if (n < 0) {
      Failure f = SysFailure("read", pid);
      f.path = path;
      return f;
    }
    out.append(buf, static_cast<size_t>(n));
  }
}

Status ListTasks(int pid, std::vector<int>& tids) {
  std::string path = ProcPath(pid, "task");
  std::unique_ptr<DIR, int (*)(DIR*)> dir(opendir(path.c_str()), closedir);
  if (!dir) {
    Failure f = SysFailure("opendir", pid);
    f.path = path;
    return f;
  }
  tids.clear();
  while (dirent* entry = readdir(dir.get())) {
    if (entry->d_name[0] != '.') tids.push_back(std::atoi(entry->d_name));
  }
  return std::nullopt;
}

std::string StatusField(int pid, const char* key) {
  std::string text;
  if (ReadTextFile(ProcPath(pid, "status"), text, pid)) return "";
  std::string prefix = std::string("\n") + key + ":";
  size_t at = text.find(prefix);
  if (at == std::string::npos) return "";
  size_t begin = text.find_first_not_of(" \t", at + prefix.size());
  size_t end = text.find('\n', begin);
  return text.substr(begin, end - begin);
}

namespace {

Vma ParseMapsLine(const std::string& line) {
  Vma vma;
  char perms[8] = {};
  unsigned long long start = 0, end = 0, offset = 0;
  int nameAt = 0;
  std::sscanf(line.c_str(), "%llx-%llx %7s %llx %*s %*s %n", &start, &end, perms, &offset, &nameAt);
  vma.start = start;
  vma.end = end;
  vma.perms = perms;
  vma.offset = offset;
  if (nameAt > 0 && static_cast<size_t>(nameAt) < line.size()) vma.name = line.substr(nameAt);
  return vma;
}

}  // namespace

Status ReadMaps(int pid, std::vector<Vma>& out) {
  std::string text;
  if (Status s = ReadTextFile(ProcPath(pid, "maps"), text, pid)) return s;
  std::istringstream lines(text);
  out.clear();
  for (std::string line; std::getline(lines, line);) out.push_back(ParseMapsLine(line));
  return std::nullopt;
}
