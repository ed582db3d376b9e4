// Registration only: each kernel concern lives in its own file.
#include <napi.h>

#include "descriptions.h"
#include "errors.h"
#include "freeze.h"
#include "inject.h"
#include "kcmp.h"
#include "kerndat.h"
#include "memory.h"
#include "pagemap.h"
#include "pipes.h"
#include "shmem.h"
#include "registers.h"
#include "seccomp.h"
#include "spawn.h"
#include "storedir.h"
#include "storefs.h"
#include "tree.h"
#include "uffd.h"

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  const std::pair<const char*, Napi::Function::Callback> methods[] = {
      {"setErrorClass", SetErrorClass},
      {"probeKernel", ProbeKernel},
      {"freeze", Freeze},
      {"thaw", Thaw},
      {"getRegs", GetRegs},
      {"setRegs", SetRegs},
      {"getXState", GetXState},
      {"setXState", SetXState},
      {"getSigmask", GetSigmask},
      {"setSigmask", SetSigmask},
      {"getRseq", GetRseq},
      {"getRobustList", GetRobustList},
      {"peekPendingSignals", PeekPendingSignals},
      {"seccompFilters", SeccompFilters},
      {"suspendSeccomp", SuspendSeccomp},
      {"injectSyscall", InjectSyscall},
      {"scratch", Scratch},
      {"readMemory", ReadMemory},
      {"writeMemory", WriteMemory},
      {"readPagemap", ReadPagemap},
      {"pagemapScan", PagemapScan},
      {"registerWriteTracking", RegisterWriteTracking},
      {"openFillUffd", OpenFillUffd},
      {"lockFile", LockFile},
      {"alignedBuffer", AlignedBuffer},
      {"openAt", OpenAt},
      {"openTmpfile", OpenTmpfile},
      {"linkTmpfile", LinkTmpfile},
      {"mkdirAt", MkdirAt},
      {"renameAt", RenameAt},
      {"linkAt", LinkAt},
      {"unlinkAt", UnlinkAt},
      {"unlinkAtAsync", UnlinkAtAsync},
      {"listDir", ListDir},
      {"kernelFileSystem", KernelFileSystem},
      {"closeOnExecFrom", CloseOnExecFrom},
      {"createPipe", CreatePipe},
      {"sameOpenFile", SameOpenFile},
      {"peekPipe", PeekPipe},
      {"dataExtents", DataExtents},
      {"memfdCreate", MemfdCreate},
      {"fileSeals", FileSeals},
      {"addSeals", AddSeals},
      {"fillPipe", FillPipe},
      {"mkfifo", MakeFifo},
      {"pipeCapacity", PipeCapacity},
      {"setPipeCapacity", SetPipeCapacity},
      {"takeFd", TakeFdMethod},
      {"fileOwner", FileOwner},
      {"writeMemoryRanges", WriteMemoryRanges},
      {"readHashed", ReadHashed},
      {"xxh64", Xxh64Of},
      {"xxh64Pages", Xxh64Pages},
      {"placeTrampolineAt", PlaceTrampolineAt},
      {"spawnStub", SpawnStub},
      {"waitThreadStop", WaitThreadStop},
      {"releaseRestored", ReleaseRestored},
      {"killTraced", KillTraced},
      {"waitExit", WaitExit},
      {"cloneStub", CloneStub},
      {"makeZombie", MakeZombie},
  };
  for (const auto& [name, fn] : methods) exports.Set(name, Napi::Function::New(env, fn, name));
  exports.Set("pageCategories", PageCategoryConstants(env));
  exports.Set("openFlags", OpenFlagConstants(env));
  exports.Set("fcntl", FcntlConstants(env));
  exports.Set("pipes", PipeConstants(env));
  return exports;
}

NODE_API_MODULE(cr_native, Init)
