// Store paths relative to a directory descriptor, through no symbolic link (storedir.cc).
#pragma once

#include <napi.h>

// openAt(dirFd, path, flags, mode): fd, opened beneath dirFd through no symbolic link (ELOOP),
// close-on-exec; a FIFO does not block the open
Napi::Value OpenAt(const Napi::CallbackInfo& info);
// openTmpfile(dirFd, mode): fd of an unnamed file in the directory (O_TMPFILE)
Napi::Value OpenTmpfile(const Napi::CallbackInfo& info);
// linkTmpfile(fd, dirFd, name): gives the unnamed file its name in the directory; fails if it exists
Napi::Value LinkTmpfile(const Napi::CallbackInfo& info);
// mkdirAt(dirFd, name, mode), renameAt(fromDirFd, from, toDirFd, to), linkAt(fromDirFd, from,
// toDirFd, to), unlinkAt(dirFd, name, directory): one name in a directory, no link followed
Napi::Value MkdirAt(const Napi::CallbackInfo& info);
Napi::Value RenameAt(const Napi::CallbackInfo& info);
Napi::Value LinkAt(const Napi::CallbackInfo& info);
Napi::Value UnlinkAt(const Napi::CallbackInfo& info);
// unlinkAtAsync(dirFd, name): Promise<void>, the unlink on the pool
Napi::Value UnlinkAtAsync(const Napi::CallbackInfo& info);
// listDir(dirFd): the directory's names, without . and ..
Napi::Value ListDir(const Napi::CallbackInfo& info);
// kernelFileSystem(fd): "proc", "sysfs", ... when fd is on a kernel interface file system, else null
Napi::Value KernelFileSystem(const Napi::CallbackInfo& info);
// {O_PATH}: for openAt, which Node's fs.constants lacks
Napi::Object OpenFlagConstants(Napi::Env env);
