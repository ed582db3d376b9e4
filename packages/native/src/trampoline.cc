#include "trampoline.h"

#include <cstring>
#include <initializer_list>

namespace {

constexpr char kMagic[] = "cr-trampoline-v3";  // at the end of the code page, for recognition

class CodeWriter {
 public:
  explicit CodeWriter(uint64_t base) : base_(base) {}
  void Emit(std::initializer_list<uint8_t> bytes) { code_.insert(code_.end(), bytes); }
  // An instruction ending in a rip-relative disp32 that must point at `target`.
  void RipRelative(std::initializer_list<uint8_t> opcode, uint64_t target) {
    Emit(opcode);
    auto disp = static_cast<int32_t>(target - (base_ + code_.size() + 4));
    uint8_t bytes[4];
    std::memcpy(bytes, &disp, 4);
    code_.insert(code_.end(), bytes, bytes + 4);
  }
  std::vector<uint8_t>& code() { return code_; }

 private:
  uint64_t base_;
  std::vector<uint8_t> code_;
};

}  // namespace

std::vector<uint8_t> TrampolineCode(uint64_t base, uint64_t pageSize) {
  uint64_t data = base + pageSize;
  CodeWriter w(base);
  w.Emit({0x0f, 0x05});                                  // syscall: the injected one
  w.Emit({0xb8, 14, 0, 0, 0});                           // mov eax, __NR_rt_sigprocmask
  w.Emit({0xbf, 2, 0, 0, 0});                            // mov edi, SIG_SETMASK
  w.RipRelative({0x48, 0x8d, 0x35}, data + kSaveMask);   // lea rsi, [saved mask]
  w.Emit({0x31, 0xd2});                                  // xor edx, edx
  w.Emit({0x41, 0xba, 8, 0, 0, 0});                      // mov r10d, sizeof(sigset)
  w.Emit({0x0f, 0x05});                                  // syscall
  w.RipRelative({0x48, 0x8d, 0x25}, data + kSaveRegs);   // lea rsp, [saved registers]
  w.Emit({0x41, 0x5f, 0x41, 0x5e, 0x41, 0x5d, 0x41, 0x5c,  // pop r15, r14, r13, r12
          0x5d, 0x5b, 0x41, 0x5b, 0x41, 0x5a,              // pop rbp, rbx, r11, r10
          0x41, 0x59, 0x41, 0x58, 0x58, 0x59,              // pop r9, r8, rax, rcx
          0x5a, 0x5e, 0x5f});                              // pop rdx, rsi, rdi
  w.Emit({0x9d});                                        // popfq
  w.Emit({0x5c});                                        // pop rsp
  w.RipRelative({0xff, 0x25}, data + kSaveRip);          // jmp [saved rip]
  w.code().resize(kForkSite, 0xcc);
  w.Emit({0x0f, 0x05});                                  // syscall: the injected clone
  w.Emit({0x48, 0x85, 0xc0});                            // test rax, rax
  w.RipRelative({0x0f, 0x85}, base + 2);                 // jnz restore routine (the parent)
  w.Emit({0xb8, 231, 0, 0, 0});                          // mov eax, __NR_exit_group (the child)
  w.Emit({0x31, 0xff});                                  // xor edi, edi
  w.Emit({0x0f, 0x05});                                  // syscall
  w.code().resize(kSpawnSite, 0xcc);
  w.Emit({0x0f, 0x05});                                  // syscall: the go-between's clone
  w.Emit({0xb8, 231, 0, 0, 0});                          // mov eax, __NR_exit_group (both)
  w.Emit({0x31, 0xff});                                  // xor edi, edi
  w.Emit({0x0f, 0x05});                                  // syscall
  std::vector<uint8_t> page = w.code();
  page.resize(pageSize, 0xcc);  // int3 everywhere else
  std::memcpy(page.data() + pageSize - sizeof kMagic, kMagic, sizeof kMagic);
  return page;
}

std::vector<uint8_t> SaveAreaImage(const user_regs_struct& resume, uint64_t mask) {
  std::vector<uint8_t> image(kSaveRip + 8);
  std::memcpy(image.data() + kSaveMask, &mask, 8);
  std::memcpy(image.data() + kSaveRegs, &resume, 15 * 8);  // r15 ... rdi
  std::memcpy(image.data() + kSaveFlags, &resume.eflags, 8);
  std::memcpy(image.data() + kSaveRsp, &resume.rsp, 8);
  std::memcpy(image.data() + kSaveRip, &resume.rip, 8);
  return image;
}
