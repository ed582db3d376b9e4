// Kernel interfaces newer than Debian 12's headers (Linux 6.1): PAGEMAP_SCAN and the
// userfaultfd write-protect-async features arrived in 6.7. Values copied from the 6.7 uapi.
#pragma once

#include <linux/fs.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>

#include <stdint.h>  // C too: the bench's machine probe includes this file

#ifndef PAGEMAP_SCAN
struct page_region {
  uint64_t start;
  uint64_t end;
  uint64_t categories;
};

struct pm_scan_arg {
  uint64_t size;
  uint64_t flags;
  uint64_t start;
  uint64_t end;
  uint64_t walk_end;
  uint64_t vec;
  uint64_t vec_len;
  uint64_t max_pages;
  uint64_t category_inverted;
  uint64_t category_mask;
  uint64_t category_anyof_mask;
  uint64_t return_mask;
};

#define PAGEMAP_SCAN _IOWR('f', 16, struct pm_scan_arg)
#define PM_SCAN_WP_MATCHING (1 << 0)
#define PM_SCAN_CHECK_WPASYNC (1 << 1)

#define PAGE_IS_WPALLOWED (1 << 0)
#define PAGE_IS_WRITTEN (1 << 1)
#define PAGE_IS_FILE (1 << 2)
#define PAGE_IS_PRESENT (1 << 3)
#define PAGE_IS_SWAPPED (1 << 4)
#define PAGE_IS_PFNZERO (1 << 5)
#define PAGE_IS_HUGE (1 << 6)
#define PAGE_IS_SOFT_DIRTY (1 << 7)
#endif

#ifndef PAGE_IS_GUARD
#define PAGE_IS_GUARD (1 << 8)  // Linux 6.14
#endif

#ifndef UFFD_FEATURE_WP_UNPOPULATED
#define UFFD_FEATURE_WP_UNPOPULATED (1 << 13)
#endif
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC (1 << 15)
#endif
#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif

#ifndef PR_SET_VMA
#define PR_SET_VMA 0x53564d41
#define PR_SET_VMA_ANON_NAME 0
#endif

#ifndef NT_X86_XSTATE
#define NT_X86_XSTATE 0x202
#endif

// Socket options newer than Debian 12's headers (asm-generic/socket.h): SO_PASSPIDFD 6.5,
// SO_PASSRIGHTS 6.16.
#ifndef SO_PASSPIDFD
#define SO_PASSPIDFD 76
#endif
#ifndef SO_PASSRIGHTS
#define SO_PASSRIGHTS 83
#endif

// Slots of a new pipe (include/linux/pipe_fs_i.h, not uapi): its capacity is this many pages.
#define PIPE_DEF_BUFFERS 16

// Default actions of signals (include/linux/signal.h, kernel-internal), as masks of bit sig-1:
// a signal in neither the ignore nor the stop mask ends the process by default, one in the
// coredump mask with a core dump (if the process is dumpable).
#define CR_SIGBIT(sig) (1ull << ((sig) - 1))
#define SIG_KERNEL_IGNORE_MASK (CR_SIGBIT(SIGCONT) | CR_SIGBIT(SIGCHLD) | CR_SIGBIT(SIGWINCH) | CR_SIGBIT(SIGURG))
#define SIG_KERNEL_STOP_MASK (CR_SIGBIT(SIGSTOP) | CR_SIGBIT(SIGTSTP) | CR_SIGBIT(SIGTTIN) | CR_SIGBIT(SIGTTOU))
#define SIG_KERNEL_COREDUMP_MASK                                                                                 \
  (CR_SIGBIT(SIGQUIT) | CR_SIGBIT(SIGILL) | CR_SIGBIT(SIGTRAP) | CR_SIGBIT(SIGABRT) | CR_SIGBIT(SIGFPE) |          \
   CR_SIGBIT(SIGSEGV) | CR_SIGBIT(SIGBUS) | CR_SIGBIT(SIGSYS) | CR_SIGBIT(SIGXCPU) | CR_SIGBIT(SIGXFSZ))
