#include "trampoline.h"

#include <cstdlib>
#include <cstring>
#include <initializer_list>

namespace {

constexpr char kMagic[] = "cr-trampoline-v4";  // at the end of the code page, for recognition

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
  // A short jump (jcc or jmp rel8 `opcode`) to the code's offset `target`; returns where its
  // displacement is, for a forward jump to be aimed once its target is known (Land).
  size_t Jump8(uint8_t opcode, size_t target = 0) {
    Emit({opcode});
    code_.push_back(static_cast<uint8_t>(static_cast<int8_t>(target - (code_.size() + 1))));
    return code_.size() - 1;
  }
  // Aims the forward jump whose displacement is at `at` here.
  void Land(size_t at) { code_[at] = static_cast<uint8_t>(static_cast<int8_t>(code_.size() - (at + 1))); }
  size_t size() const { return code_.size(); }
  std::vector<uint8_t>& code() { return code_; }

 private:
  uint64_t base_;
  std::vector<uint8_t> code_;
};

// The query loop (trampoline.h): rbx walks the table; any register may change, since the
// restore routine (or cr) puts them all back.
void EmitQueryLoop(CodeWriter& w, uint64_t base, uint64_t data) {
  w.RipRelative({0x48, 0x8d, 0x1d}, data + kQueryTable);  // lea rbx, [table]
  size_t loop = w.size();
  w.Emit({0x48, 0x8b, 0x03});                             // mov rax, [rbx]
  w.Emit({0x48, 0x83, 0xf8, 0xff});                       // cmp rax, -1
  size_t toDone = w.Jump8(0x74);                          // je done
  w.Emit({0x48, 0x8b, 0x7b, 0x08});                       // mov rdi, [rbx + 8]
  w.Emit({0x48, 0x8b, 0x73, 0x10});                       // mov rsi, [rbx + 16]
  w.Emit({0x48, 0x8b, 0x53, 0x18});                       // mov rdx, [rbx + 24]
  w.Emit({0x4c, 0x8b, 0x53, 0x20});                       // mov r10, [rbx + 32]
  w.Emit({0x4c, 0x8b, 0x43, 0x28});                       // mov r8, [rbx + 40]
  w.Emit({0x4c, 0x8b, 0x4b, 0x30});                       // mov r9, [rbx + 48]
  w.Emit({0x0f, 0x05});                                   // syscall
  w.Emit({0x48, 0x89, 0x03});                             // mov [rbx], rax
  w.Emit({0x48, 0x83, 0xc3, static_cast<uint8_t>(kQueryEntry)});  // add rbx, entry size
  w.Jump8(0xeb, loop);                                    // jmp loop
  w.Land(toDone);
  w.RipRelative({0x48, 0xc7, 0x05}, data + kQueryDone - 4);  // done: mov qword [done], 1
  w.Emit({1, 0, 0, 0});                                   //   (its disp counts from after this imm32)
  w.Emit({0xb8, 0x0f, 0x01, 0, 0});                       // mov eax, __NR_ppoll
  w.Emit({0x31, 0xff});                                   // xor edi, edi
  w.Emit({0x31, 0xf6});                                   // xor esi, esi
  w.RipRelative({0x48, 0x8d, 0x15}, data + kQueryTimeout);  // lea rdx, [timeout]
  w.Emit({0x45, 0x31, 0xd2});                             // xor r10d, r10d
  w.Emit({0x45, 0x31, 0xc0});                             // xor r8d, r8d
  if (w.size() != kQueryWaitSite) std::abort();           // the offset cr checks the stop at
  w.Emit({0x0f, 0x05});                                   // syscall: the wait
  w.RipRelative({0xe9}, base + 2);                        // jmp restore routine
}

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
  w.code().resize(kQuerySite, 0xcc);
  EmitQueryLoop(w, base, data);
  std::vector<uint8_t> page = w.code();
  page.resize(pageSize, 0xcc);  // int3 everywhere else
  std::memcpy(page.data() + pageSize - sizeof kMagic, kMagic, sizeof kMagic);
  return page;
}

user_regs_struct SaveAreaState(const std::vector<uint8_t>& image, const user_regs_struct& now, uint64_t& mask) {
  user_regs_struct resume = now;
  std::memcpy(&mask, image.data() + kSaveMask, 8);
  std::memcpy(&resume, image.data() + kSaveRegs, 15 * 8);  // r15 ... rdi
  std::memcpy(&resume.eflags, image.data() + kSaveFlags, 8);
  std::memcpy(&resume.rsp, image.data() + kSaveRsp, 8);
  std::memcpy(&resume.rip, image.data() + kSaveRip, 8);
  resume.orig_rax = static_cast<uint64_t>(-1);  // its syscall restart is applied already (ResumeState)
  return resume;
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
