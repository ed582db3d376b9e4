// inotify instances: the files their watches name, found from the handles fdinfo shows, and the
// instance made again at restart with every watch under its saved number.
#pragma once

#include <napi.h>

// openByHandle(mountFd, type, handle): an O_PATH descriptor on the file a file handle (type and
// bytes, as fdinfo's fhandle-type and f_handle show) names on the filesystem of `mountFd`
// (open_by_handle_at: CAP_DAC_READ_SEARCH). ESTALE: the file is gone.
Napi::Value OpenByHandle(const Napi::CallbackInfo& info);

// createInotify(flags, wds, masks, paths): a new inotify instance in this process, close-on-exec,
// non-blocking when `flags` has O_NONBLOCK, watching paths[i] for masks[i] under watch descriptor
// wds[i] (ascending). The kernel hands watch descriptors out in increasing order (idr_alloc_cyclic,
// from 1, never reusing one until it wraps), so a number below the wanted one is taken by adding
// the watch and removing it again; the IN_IGNORED events those removals queue are read away.
// EEXIST: two watches name one file now.
Napi::Value CreateInotify(const Napi::CallbackInfo& info);

// queuedBytes(fd): how many bytes of events wait to be read on inotify descriptor `fd` (FIONREAD).
Napi::Value QueuedBytes(const Napi::CallbackInfo& info);
