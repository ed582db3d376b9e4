/* The restore stub: the body a restarted process is rebuilt in (docs/restart.md).
 *
 * cr starts it with clone3(set_tid) under PTRACE_TRACEME, so it stops at its exec before
 * running a single instruction; cr then drives it entirely through injected syscalls and
 * replaces every mapping, so none of this code ever runs in a successful restart. It is
 * written without libc so that nothing (rseq, TLS, atexit) is registered that the restored
 * process would inherit, and linked at an address user programs rarely use (see binding.gyp):
 * cr unmaps it before mapping the image anyway.
 *
 * If it ever runs (cr died before the exec stop was handled and PTRACE_O_EXITKILL was not
 * yet set), it exits at once.
 */
void _start(void)
{
	__asm__ volatile("mov $60, %%eax\n\t" /* exit(127) */
			 "mov $127, %%edi\n\t"
			 "syscall\n\t"
			 "hlt" ::: "memory");
	__builtin_unreachable();
}
