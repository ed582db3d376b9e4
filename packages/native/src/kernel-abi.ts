// Kernel ABI facts cr relies on, x86_64: syscall numbers, flag values, struct layouts. They live
// here once; packages/core imports them and spells no kernel number of its own. Names are the
// kernel's (uapi headers, or the kernel source where the name is internal); values are exact.
// Each value has the type cr uses it as: bigint where it goes into a syscall argument or is
// compared with a 64-bit word (a prctl option, an madvise advice, an errno code), number where
// it is a bit tested in a 32-bit field or written into a struct. kernel-abi.test.ts compares
// every value this machine's C headers also define.
//
// Values the C++ side knows from its headers come from the addon instead: FCNTL (fcntl commands,
// lock types, flock operations, F_OWNER_*), O_PATH, the PAGE_IS_* categories, PIPE_DEFAULT_SIZE.

/** The base page size of x86_64. */
export const PAGE_SIZE = 4096;

/** x86_64 syscall numbers cr injects (arch/x86/entry/syscalls/syscall_64.tbl). */
export const SYS = {
  write: 1,
  close: 3,
  lseek: 8,
  mmap: 9,
  mprotect: 10,
  munmap: 11,
  brk: 12,
  rt_sigaction: 13,
  ioctl: 16,
  mremap: 25,
  mincore: 27,
  madvise: 28,
  getitimer: 36,
  wait4: 61,
  setitimer: 38,
  fcntl: 72,
  flock: 73,
  chdir: 80,
  umask: 95,
  setgroups: 116,
  setpgid: 109,
  setsid: 112,
  setresuid: 117,
  setresgid: 119,
  rt_sigqueueinfo: 129,
  sigaltstack: 131,
  personality: 135,
  mlockall: 151,
  prctl: 157,
  set_tid_address: 218,
  restart_syscall: 219,
  timer_create: 222,
  timer_settime: 223,
  timer_gettime: 224,
  timer_getoverrun: 225,
  epoll_wait: 232,
  epoll_ctl: 233,
  waitid: 247,
  openat: 257,
  set_robust_list: 273,
  dup3: 292,
  rt_tgsigqueueinfo: 297,
  prlimit64: 302,
  seccomp: 317,
  membarrier: 324,
  mlock2: 325,
  rseq: 334,
  pidfd_open: 434,
  clone3: 435,
  close_range: 436,
  mseal: 462,
} as const;

export type SyscallName = keyof typeof SYS;

/** The x86_64 `syscall` instruction is 2 bytes (0f 05): a restarted syscall goes back over it. */
export const SYSCALL_INSN_SIZE = 2n;

/** /proc's time unit: the start time of /proc/PID/stat counts USER_HZ ticks since boot (sysconf(_SC_CLK_TCK)). */
export const PROC_TIME = {
  USER_HZ: 100,
} as const;

/**
 * Error numbers a raw syscall result carries (include/linux/err.h, include/linux/errno.h): it
 * fails with -errno, errno at most MAX_ERRNO. The ERESTART* codes are the kernel's own, never
 * returned to a program but seen in rax of a thread stopped inside an interrupted syscall.
 */
export const ERRNO = {
  MAX_ERRNO: 4095n,
  ERESTARTSYS: 512n,
  ERESTARTNOINTR: 513n,
  ERESTARTNOHAND: 514n,
  ERESTART_RESTARTBLOCK: 516n,
} as const;

/** prctl(2) options (include/uapi/linux/prctl.h). */
export const PRCTL = {
  PR_GET_DUMPABLE: 3n,
  PR_SET_DUMPABLE: 4n,
  PR_SET_NAME: 15n,
  PR_SET_MM: 35n,
  /** PR_SET_MM's sub-option taking a whole struct prctl_mm_map (not a prctl option itself). */
  PR_SET_MM_MAP: 14n,
  PR_SET_CHILD_SUBREAPER: 36n,
  PR_GET_CHILD_SUBREAPER: 37n,
  PR_SET_NO_NEW_PRIVS: 38n,
  PR_GET_TID_ADDRESS: 40n,
  PR_SET_THP_DISABLE: 41n,
  PR_GET_THP_DISABLE: 42n,
  PR_SET_MDWE: 65n,
  PR_GET_MDWE: 66n,
  PR_SET_MEMORY_MERGE: 67n,
  PR_GET_MEMORY_MERGE: 68n,
  PR_TIMER_CREATE_RESTORE_IDS: 77n,
} as const;

/** Process attributes: task flags, names, capabilities, ids. */
export const PROCESS = {
  /** PF_KTHREAD in the flags field of /proc/PID/stat (include/linux/sched.h): a kernel thread. */
  PF_KTHREAD: 0x00200000,
  /** PF_EXITING: the process is in exit(), its memory about to go (a stop may still catch it). */
  PF_EXITING: 0x00000004,
  /** The size of a task's comm, NUL included (include/linux/sched.h): PR_SET_NAME keeps 15 bytes. */
  TASK_COMM_LEN: 16,
  /** Capability numbers (include/uapi/linux/capability.h): bit N of /proc/PID/status CapEff. */
  CAP_SYS_ADMIN: 21,
  /** (uid_t)-1, (gid_t)-1: setresuid/setresgid leave that id as it is (the kernel has no name for it). */
  ID_UNCHANGED: 0xffffffffn,
} as const;

/** wait4/waitid options (include/uapi/linux/wait.h). */
export const WAIT = {
  WNOHANG: 1,
  WEXITED: 4,
  WNOWAIT: 0x01000000,
  /** Wait for every child, those whose exit signal is not SIGCHLD (a frozen copy's is 0) too. */
  __WALL: 0x40000000,
} as const;

/** Resource limits (include/uapi/asm-generic/resource.h), in kernel order. */
export const RLIMIT = {
  RLIMIT_CPU: 0,
  RLIMIT_FSIZE: 1,
  RLIMIT_DATA: 2,
  RLIMIT_STACK: 3,
  RLIMIT_CORE: 4,
  RLIMIT_RSS: 5,
  RLIMIT_NPROC: 6,
  RLIMIT_NOFILE: 7,
  RLIMIT_MEMLOCK: 8,
  RLIMIT_AS: 9,
  RLIMIT_LOCKS: 10,
  RLIMIT_SIGPENDING: 11,
  RLIMIT_MSGQUEUE: 12,
  RLIMIT_NICE: 13,
  RLIMIT_RTPRIO: 14,
  RLIMIT_RTTIME: 15,
  /** No limit (as /proc/PID/limits' "unlimited"): the u64 all ones. */
  RLIM_INFINITY: 2n ** 64n - 1n,
} as const;

/** Signals (arch/x86/include/uapi/asm/signal.h, include/uapi/asm-generic/siginfo.h). */
export const SIGNALS = {
  SIGKILL: 9,
  SIGCHLD: 17,
  SIGSTOP: 19,
  /** sa_handler's "ignore"; sa_flags' "reap children without wait" (with SIG_IGN for SIGCHLD, children are reaped so too). */
  SIG_IGN: 1,
  SA_NOCLDWAIT: 2,
  /** The kernel's number of signals, 1 to 64 (glibc's NSIG, 65, counts signal 0 too). */
  _NSIG: 64,
  /** sigaltstack ss_flags. SS_ONSTACK is a state the kernel reports, not a setting. */
  SS_ONSTACK: 1,
  SS_DISABLE: 2,
  SS_AUTODISARM: 0x80000000,
  /** si_code of a POSIX timer's signal. */
  SI_TIMER: -2,
} as const;

/** Interval timers and POSIX timers (include/uapi/linux/time.h, asm-generic/siginfo.h). */
export const TIMERS = {
  ITIMER_REAL: 0,
  ITIMER_VIRTUAL: 1,
  ITIMER_PROF: 2,
  /** sigevent sigev_notify. */
  SIGEV_SIGNAL: 0,
  SIGEV_NONE: 1,
  SIGEV_THREAD: 2,
  SIGEV_THREAD_ID: 4,
  /**
   * A CPU-time clock ID is negative: ~pid << 3, this bit for a thread's clock, the low 2 bits
   * the kind (include/linux/posix-timers.h). pid 0 is the caller: CLOCK_PROCESS_CPUTIME_ID's
   * timers show -6, CLOCK_THREAD_CPUTIME_ID's -2 (of the creating thread).
   */
  CPUCLOCK_PERTHREAD_MASK: 4,
} as const;

/** CPUCLOCK_PID(): the process or thread a CPU-time clock ID counts (0: the caller). */
export function cpuClockPid(clock: number): number {
  return ~(clock >> 3);
}

/** clone3 flags (include/uapi/linux/sched.h). */
export const CLONE = {
  CLONE_VM: 0x00000100,
  CLONE_FS: 0x00000200,
  CLONE_FILES: 0x00000400,
  CLONE_SIGHAND: 0x00000800,
  CLONE_THREAD: 0x00010000,
  CLONE_SYSVSEM: 0x00040000,
} as const;

/** seccomp modes (/proc/PID/status Seccomp), operations and filter flags (include/uapi/linux/seccomp.h). */
export const SECCOMP = {
  SECCOMP_MODE_DISABLED: 0,
  SECCOMP_MODE_STRICT: 1,
  SECCOMP_MODE_FILTER: 2,
  SECCOMP_SET_MODE_FILTER: 1n,
  SECCOMP_FILTER_FLAG_TSYNC: 1,
} as const;

/** membarrier(2) commands (include/uapi/linux/membarrier.h), each a bit. */
export const MEMBARRIER = {
  MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED: 1n << 2n,
  MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED: 1n << 4n,
  MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE: 1n << 6n,
  MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_RSEQ: 1n << 8n,
  /** Linux 6.3: the REGISTER commands the process issued, each its bit. */
  MEMBARRIER_CMD_GET_REGISTRATIONS: 1n << 9n,
} as const;

/** Flags of mmap, mprotect and mremap that restart passes to syscalls injected into a target. */
export const MM = {
  PROT_READ: 1,
  PROT_WRITE: 2,
  MAP_SHARED: 0x01,
  MAP_PRIVATE: 0x02,
  MAP_DROPPABLE: 0x08,
  MAP_FIXED: 0x10,
  MAP_ANONYMOUS: 0x20,
  MAP_GROWSDOWN: 0x100,
  MAP_NORESERVE: 0x4000,
  MREMAP_MAYMOVE: 1,
  MREMAP_FIXED: 2,
} as const;

/** madvise(2) advice (include/uapi/asm-generic/mman-common.h). */
export const MADV = {
  MADV_RANDOM: 1n,
  MADV_SEQUENTIAL: 2n,
  MADV_DONTNEED: 4n,
  MADV_DONTFORK: 10n,
  MADV_MERGEABLE: 12n,
  MADV_HUGEPAGE: 14n,
  MADV_NOHUGEPAGE: 15n,
  MADV_DONTDUMP: 16n,
  MADV_WIPEONFORK: 18n,
  /** Linux 6.13. */
  MADV_GUARD_INSTALL: 102n,
} as const;

/** mlockall(2) and mlock2(2) flags (include/uapi/asm-generic/mman.h, mman-common.h). */
export const MLOCK = {
  MCL_CURRENT: 1,
  MCL_FUTURE: 2,
  MCL_ONFAULT: 4,
  MLOCK_ONFAULT: 1n,
} as const;

/**
 * open(2) flags as the kernel keeps them (x86_64, include/uapi/asm-generic/fcntl.h; also as
 * /proc/PID/fdinfo shows them), openat's AT_FDCWD and lseek's whence. O_PATH and O_ASYNC come
 * from the addon (O_PATH, FCNTL.O_ASYNC).
 */
export const OPEN = {
  O_ACCMODE: 0o3,
  O_RDONLY: 0o0,
  O_WRONLY: 0o1,
  O_RDWR: 0o2,
  O_CREAT: 0o100,
  O_EXCL: 0o200,
  O_NOCTTY: 0o400,
  O_TRUNC: 0o1000,
  O_APPEND: 0o2000,
  O_NONBLOCK: 0o4000,
  O_DIRECT: 0o40000,
  O_NOFOLLOW: 0o400000,
  O_CLOEXEC: 0o2000000,
  /** __O_TMPFILE | O_DIRECTORY: an O_TMPFILE file's description keeps it (fdinfo flags). */
  O_TMPFILE: 0o20200000,
  AT_FDCWD: -100n,
  SEEK_SET: 0,
} as const;

/** eventfd(2) flags (include/uapi/linux/eventfd.h); /proc/PID/fdinfo shows EFD_SEMAPHORE as `eventfd-semaphore`. */
export const EVENTFD = {
  EFD_SEMAPHORE: 1,
  EFD_NONBLOCK: 0o4000,
} as const;

/**
 * epoll_ctl(2) (include/uapi/linux/eventpoll.h). The flags a watch's events may carry besides the
 * poll bits: /proc/PID/fdinfo shows them in `events`, and a one-shot watch that fired keeps only these.
 */
export const EPOLL = {
  EPOLL_CTL_ADD: 1,
  EPOLL_CTL_MOD: 3,
  EPOLLIN: 0x1,
  EPOLLPRI: 0x2,
  EPOLLOUT: 0x4,
  EPOLLRDNORM: 0x40,
  EPOLLRDBAND: 0x80,
  EPOLLWRNORM: 0x100,
  EPOLLWRBAND: 0x200,
  EPOLLMSG: 0x400,
  EPOLLRDHUP: 0x2000,
  EPOLLEXCLUSIVE: 1 << 28,
  EPOLLWAKEUP: 1 << 29,
  EPOLLONESHOT: 1 << 30,
  EPOLLET: 0x80000000,
} as const;

/**
 * timerfd_create(2) flags and clocks, and timerfd_settime(2) flags (include/uapi/linux/timerfd.h):
 * /proc/PID/fdinfo shows the clock as `clockid` and the settime flags as `settime flags`.
 */
export const TIMERFD = {
  TFD_NONBLOCK: 0o4000,
  TFD_TIMER_ABSTIME: 1,
  TFD_TIMER_CANCEL_ON_SET: 2,
  CLOCK_REALTIME: 0,
  CLOCK_MONOTONIC: 1,
  CLOCK_BOOTTIME: 7,
  CLOCK_REALTIME_ALARM: 8,
  CLOCK_BOOTTIME_ALARM: 9,
} as const;

/** Terminal ioctls (include/uapi/asm-generic/ioctls.h) a restored session leader is given its terminal with. */
export const TTY = {
  TIOCSCTTY: 0x540e,
  TIOCSPGRP: 0x5410,
} as const;

/** signalfd(2) flags (include/uapi/linux/signalfd.h). */
export const SIGNALFD = {
  SFD_NONBLOCK: 0o4000,
} as const;

/**
 * memfd_create(2) flags (include/uapi/linux/memfd.h) and the seals of F_ADD_SEALS/F_GET_SEALS
 * (include/uapi/linux/fcntl.h). A memfd made without MFD_ALLOW_SEALING starts with F_SEAL_SEAL,
 * as does every tmpfs file that is not a memfd.
 */
export const MEMFD = {
  MFD_ALLOW_SEALING: 0x2,
  /** Linux 6.3: not executable, and F_SEAL_EXEC set. */
  MFD_NOEXEC_SEAL: 0x8,
  F_SEAL_SEAL: 0x1,
  F_SEAL_SHRINK: 0x2,
  F_SEAL_GROW: 0x4,
  F_SEAL_WRITE: 0x8,
  F_SEAL_FUTURE_WRITE: 0x10,
  /** Linux 6.3: the exec bits of the mode can no longer change. */
  F_SEAL_EXEC: 0x20,
} as const;

/** statfs(2) f_type of the file systems cr tells apart (include/uapi/linux/magic.h). */
export const FS_MAGIC = {
  /** tmpfs, and the kernel's internal shmem mount behind memfds and shared anonymous memory. */
  TMPFS_MAGIC: 0x01021994,
  HUGETLBFS_MAGIC: 0x958458f6,
} as const;

/** st_mode bits (include/uapi/linux/stat.h; S_IALLUGO from include/linux/stat.h). */
export const STAT = {
  S_IFMT: 0o170000,
  S_IFSOCK: 0o140000,
  S_IFREG: 0o100000,
  S_IFBLK: 0o060000,
  S_IFDIR: 0o040000,
  S_IFCHR: 0o020000,
  S_IFIFO: 0o010000,
  /** The permission bits, set-id and sticky bits included: what chmod sets. */
  S_IALLUGO: 0o7777,
  S_IWGRP: 0o020,
  S_IWOTH: 0o002,
} as const;

/** The kernel's largest file offset (include/linux/fs.h): the end of a lock "to EOF" (l_len 0). */
export const OFFSET_MAX = (1n << 63n) - 1n;

/**
 * /proc/PID/pagemap entries (fs/proc/task_mmu.c, Documentation/admin-guide/mm/pagemap.rst)
 * and /proc/PID/clear_refs.
 */
export const PAGEMAP = {
  PM_PRESENT: 1n << 63n,
  PM_SWAP: 1n << 62n,
  /** A page-cache page (not COW'd) or shared anonymous. */
  PM_FILE: 1n << 61n,
  /** CONFIG_MEM_SOFT_DIRTY: written since the last CLEAR_REFS_SOFT_DIRTY. */
  PM_SOFT_DIRTY: 1n << 55n,
  /**
   * A swapped entry's low bits are the swap type, MAX_SWAPFILES_SHIFT of them; SWP_PTE_MARKER
   * is no swap at all but a marker (uffd-wp on an empty page, a guard page). Visible to
   * CAP_SYS_ADMIN; without it the type reads 0.
   */
  MAX_SWAPFILES_SHIFT: 5,
  SWP_PTE_MARKER: 31,
  /** What to write to /proc/PID/clear_refs to clear the soft-dirty bits (enum clear_refs_types). */
  CLEAR_REFS_SOFT_DIRTY: 4,
} as const;

/** Device numbers (include/uapi/linux/major.h; minors from Documentation/admin-guide/devices.txt). */
export const DEVICES = {
  /** Memory devices: /dev/null, /dev/zero, /dev/full, /dev/random, /dev/urandom. */
  MEM_MAJOR: 1,
  DEV_NULL_MINOR: 3,
  DEV_ZERO_MINOR: 5,
  DEV_FULL_MINOR: 7,
  DEV_RANDOM_MINOR: 8,
  DEV_URANDOM_MINOR: 9,
  /** Virtual consoles and serial lines. */
  TTY_MAJOR: 4,
  /** /dev/tty, /dev/console, /dev/ptmx. */
  TTYAUX_MAJOR: 5,
  DEV_TTY_MINOR: 0,
  DEV_CONSOLE_MINOR: 1,
  DEV_PTMX_MINOR: 2,
  /** Pseudo-terminal slaves (/dev/pts/N): UNIX98_PTY_MAJOR_COUNT majors from this one. */
  UNIX98_PTY_SLAVE_MAJOR: 136,
  UNIX98_PTY_MAJOR_COUNT: 8,
} as const;

/** Linux dev_t (as stat returns it) split into major and minor (glibc's gnu_dev_major/minor). */
export function splitDev(dev: bigint): { major: number; minor: number } {
  const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & 0xfffff000n);
  const minor = (dev & 0xffn) | ((dev >> 12n) & 0xffffff00n);
  return { major: Number(major), minor: Number(minor) };
}

/**
 * The kernel's own dev_t (include/linux/kdev_t.h: MINORBITS 20), which sock_diag's UNIX_DIAG_VFS
 * gives as it is, split into major and minor.
 */
export function splitKernelDev(dev: bigint): { major: number; minor: number } {
  return { major: Number(dev >> 20n), minor: Number(dev & 0xfffffn) };
}

/** Sockets (include/linux/net.h, include/uapi/linux/net.h, include/net/sock.h, include/net/tcp_states.h). */
export const SOCKET = {
  /** The Flags column of /proc/net/unix: a listening socket. */
  __SO_ACCEPTCON: 1 << 16,
  SOCK_STREAM: 1,
  SOCK_DGRAM: 2,
  SOCK_SEQPACKET: 5,
  /** shutdown(2)'s how. */
  SHUT_RD: 0,
  SHUT_WR: 1,
  SHUT_RDWR: 2,
  /** A socket's sk_shutdown bits, as sock_diag's UNIX_DIAG_SHUTDOWN gives them (kernel-internal names). */
  RCV_SHUTDOWN: 1,
  SEND_SHUTDOWN: 2,
  /** The sk_state of a UNIX socket, as sock_diag gives it: connected, unconnected, listening. */
  TCP_ESTABLISHED: 1,
  TCP_SYN_SENT: 2,
  TCP_CLOSE: 7,
  TCP_LISTEN: 10,
  /** Network sockets (inet-sockets.h); AF_UNIX for a socket no /proc/net table lists yet. */
  AF_UNIX: 1,
  AF_INET: 2,
  AF_INET6: 10,
  IPPROTO_TCP: 6,
  IPPROTO_UDP: 17,
  SOL_SOCKET: 1,
  SO_REUSEADDR: 2,
} as const;

/**
 * Sizes and field offsets, in bytes, of the kernel structs cr builds or reads in a target
 * (x86_64; field names as in the headers).
 */
export const STRUCTS = {
  /** sigaltstack. */
  stack_t: { size: 24, ss_sp: 0, ss_flags: 8, ss_size: 16 },
  /** rt_sigaction's struct sigaction, as the kernel has it (glibc: kernel_sigaction); sa_mask a kernel sigset_t. */
  kernel_sigaction: { size: 32, sa_handler: 0, sa_flags: 8, sa_restorer: 16, sa_mask: 24 },
  /** The kernel's sigset_t, _NSIG bits (rt_sigaction's sigsetsize); glibc's has 1024. */
  sigset_t: { size: 8 },
  /** si_timerid: an SI_TIMER signal's POSIX timer ID (_sifields._timer._tid). */
  siginfo_t: { size: 128, si_signo: 0, si_code: 8, si_timerid: 16 },
  /** clone3's arguments up to set_tid_size (CLONE_ARGS_SIZE_VER2: without cgroup). */
  clone_args: { size: 88, flags: 0, set_tid: 64, set_tid_size: 72 },
  robust_list_head: { size: 24 },
  /** u16 len, pad, pointer to len struct sock_filter (BPF instructions). */
  sock_fprog: { size: 16, len: 0, filter: 8 },
  sock_filter: { size: 8 },
  /** PR_SET_MM_MAP's argument. */
  prctl_mm_map: {
    size: 104,
    start_code: 0,
    end_code: 8,
    start_data: 16,
    end_data: 24,
    start_brk: 32,
    brk: 40,
    start_stack: 48,
    arg_start: 56,
    arg_end: 64,
    env_start: 72,
    env_end: 80,
    auxv: 88,
    auxv_size: 96,
    exe_fd: 100,
  },
  /** fcntl's record lock: l_type s16, l_whence s16, (pad), l_start s64, l_len s64, l_pid s32, (pad). */
  flock: { size: 32, l_type: 0, l_whence: 2, l_start: 8, l_len: 16, l_pid: 24 },
  /** F_SETOWN_EX's argument: int type, pid_t pid. */
  f_owner_ex: { size: 8, type: 0, pid: 4 },
  rlimit64: { size: 16, rlim_cur: 0, rlim_max: 8 },
  timeval: { size: 16, tv_sec: 0, tv_usec: 8 },
  timespec: { size: 16, tv_sec: 0, tv_nsec: 8 },
  /** getitimer/setitimer: two struct timeval. */
  itimerval: { size: 32, it_interval: 0, it_value: 16 },
  /** timer_gettime/timer_settime: two struct timespec. */
  itimerspec: { size: 32, it_interval: 0, it_value: 16 },
  /** epoll_ctl's event: packed on x86_64 (u32 events, u64 data). */
  epoll_event: { size: 12, events: 0, data: 4 },
  /** timer_create's event; sigev_notify_thread_id is _sigev_un._tid. */
  sigevent: { size: 64, sigev_value: 0, sigev_signo: 8, sigev_notify: 12, sigev_notify_thread_id: 16 },
} as const;

/** Size in bytes of struct user_regs_struct (NT_PRSTATUS). */
export const REGS_SIZE = 27 * 8;
/** Byte offsets of fields in the getRegs() buffer (struct user_regs_struct). */
export const REG = {
  r15: 0, r14: 8, r13: 16, r12: 24, rbp: 32, rbx: 40, r11: 48, r10: 56, r9: 64, r8: 72,
  rax: 80, rcx: 88, rdx: 96, rsi: 104, rdi: 112, orig_rax: 120, rip: 128, cs: 136,
  eflags: 144, rsp: 152, ss: 160, fs_base: 168, gs_base: 176, ds: 184, es: 192, fs: 200, gs: 208,
} as const;
