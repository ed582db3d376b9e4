// Loads known values into r12-r15 and xmm0-xmm15, says "ready", then spins without
// touching them, so a tracer can compare what it reads with what was set.
// xmm register i holds 16 bytes of value (i + 1) * 0x11 (wrapping).
#include <stdint.h>

static const char ready[] = "ready\n";
static uint8_t xmm_values[16][16] __attribute__((aligned(16)));

int main(void) {
  for (int i = 0; i < 16; i++)
    for (int j = 0; j < 16; j++) xmm_values[i][j] = (uint8_t)((i + 1) * 0x11);
  __asm__ volatile(
      "movdqa 0(%0), %%xmm0\n movdqa 16(%0), %%xmm1\n movdqa 32(%0), %%xmm2\n movdqa 48(%0), %%xmm3\n"
      "movdqa 64(%0), %%xmm4\n movdqa 80(%0), %%xmm5\n movdqa 96(%0), %%xmm6\n movdqa 112(%0), %%xmm7\n"
      "movdqa 128(%0), %%xmm8\n movdqa 144(%0), %%xmm9\n movdqa 160(%0), %%xmm10\n movdqa 176(%0), %%xmm11\n"
      "movdqa 192(%0), %%xmm12\n movdqa 208(%0), %%xmm13\n movdqa 224(%0), %%xmm14\n movdqa 240(%0), %%xmm15\n"
      "movabs $0x1111222233334444, %%r12\n"
      "movabs $0x5555666677778888, %%r13\n"
      "movabs $0x99990000aaaabbbb, %%r14\n"
      "movabs $0xccccddddeeeeffff, %%r15\n"
      "mov $1, %%eax\n mov $1, %%edi\n lea %c1(%%rip), %%rsi\n mov $6, %%edx\n syscall\n"
      "1: jmp 1b\n"
      :
      : "r"(xmm_values), "i"(ready)
      : "rax", "rdi", "rsi", "rdx", "rcx", "r11", "r12", "r13", "r14", "r15", "memory");
  return 0;
}
