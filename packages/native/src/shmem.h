// Shared memory objects (shmem: MAP_SHARED|MAP_ANONYMOUS, /dev/zero, memfd, tmpfs files): which
// parts hold data, and the memfd calls a restart makes them again with. A shmem page keeps its
// contents when no page table maps it (MADV_DONTNEED of a shared mapping, a page written through
// another mapping), so presence in the process's own page tables does not tell what the object
// holds: the object's file does.
#pragma once

#include <napi.h>

// dataExtents(fd, from, to): the byte ranges of [from, to) of the file `fd` that hold data, as a
// BigUint64Array of (start, end) pairs, found by lseek SEEK_DATA/SEEK_HOLE (page granular on
// shmem; a swapped-out page counts as data). Holes read as zeros and are left out.
Napi::Value DataExtents(const Napi::CallbackInfo& info);

// memfdCreate(name, flags): memfd_create(2), close-on-exec added; returns the descriptor.
Napi::Value MemfdCreate(const Napi::CallbackInfo& info);

// fileSeals(fd): F_GET_SEALS. addSeals(fd, seals): F_ADD_SEALS.
Napi::Value FileSeals(const Napi::CallbackInfo& info);
Napi::Value AddSeals(const Napi::CallbackInfo& info);
