// Shared memory objects (shmem: MAP_SHARED|MAP_ANONYMOUS, /dev/zero, memfd, tmpfs files): which
// parts hold data. A shmem page keeps its contents when no page table maps it (MADV_DONTNEED of
// a shared mapping, a page written through another mapping), so presence in the process's own
// page tables does not tell what the object holds: the object's file does.
#pragma once

#include <napi.h>

// dataExtents(fd, from, to): the byte ranges of [from, to) of the file `fd` that hold data, as a
// BigUint64Array of (start, end) pairs, found by lseek SEEK_DATA/SEEK_HOLE (page granular on
// shmem; a swapped-out page counts as data). Holes read as zeros and are left out.
Napi::Value DataExtents(const Napi::CallbackInfo& info);
