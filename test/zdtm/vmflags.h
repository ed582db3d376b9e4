// Helpers for the programs about mappings: what /proc/self/smaps says of the mapping holding an
// address, and whether touching an address faults.
#pragma once
#include "zdtm.h"  // first: it defines _GNU_SOURCE

#include <setjmp.h>
#include <stdint.h>
#include <sys/mman.h>

/** The smaps VmFlags line of the mapping holding `addr` into `out` ("" when none holds it). */
__attribute__((unused)) static void vmflags_of(const void* addr, char* out, size_t size) {
  FILE* f = fopen("/proc/self/smaps", "r");
  if (!f) zdtm_fail("open /proc/self/smaps: %s", strerrorname_np(errno));
  char line[512];
  int inside = 0;
  out[0] = '\0';
  while (fgets(line, sizeof line, f)) {
    unsigned long start, end;
    if (sscanf(line, "%lx-%lx ", &start, &end) == 2) {  // a mapping's header: no "Key:" line has START-END
      inside = (uintptr_t)addr >= start && (uintptr_t)addr < end;
    } else if (inside && strncmp(line, "VmFlags:", 8) == 0) {
      snprintf(out, size, "%.200s", line + 8);
      out[strcspn(out, "\n")] = '\0';
      break;
    }
  }
  fclose(f);
}

/** Whether the mapping holding `addr` shows VmFlags mnemonic `flag` ("dc", "lo" ...). */
static int has_vmflag(const void* addr, const char* flag) {
  char flags[256], padded[260];
  vmflags_of(addr, flags, sizeof flags);
  snprintf(padded, sizeof padded, " %s ", flags);
  char want[8];
  snprintf(want, sizeof want, " %s ", flag);
  return strstr(padded, want) != NULL;
}

/** Fails unless the mapping holding `addr` shows (`on`) or lacks (!`on`) VmFlags `flag`. */
__attribute__((unused)) static void expect_vmflag(const void* addr, const char* flag, int on, const char* what) {
  if (has_vmflag(addr, flag) != on) {
    char flags[256];
    vmflags_of(addr, flags, sizeof flags);
    zdtm_fail("%s at %p: VmFlags \"%s\" %s \"%s\"", what, addr, flags, on ? "lacks" : "has", flag);
  }
}

static sigjmp_buf vm_fault_jump;
static void vm_on_fault(int sig) {
  siglongjmp(vm_fault_jump, sig);
}

/** Whether writing (`write`) or reading one byte at `addr` faults (SIGSEGV or SIGBUS). */
__attribute__((unused)) static int faults(volatile char* addr, int write) {
  struct sigaction sa = {.sa_handler = vm_on_fault}, old_segv, old_bus;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGSEGV, &sa, &old_segv);
  sigaction(SIGBUS, &sa, &old_bus);
  int fault = sigsetjmp(vm_fault_jump, 1) != 0;
  if (!fault) {
    if (write) *addr = 1;
    else (void)*addr;
  }
  sigaction(SIGSEGV, &old_segv, NULL);
  sigaction(SIGBUS, &old_bus, NULL);
  return fault;
}
