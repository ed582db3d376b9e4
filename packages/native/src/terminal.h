// Terminals: the settings a program gave its terminal (termios, window size), read through a
// descriptor of cr's own on it, and given to the terminal `cr restart --shell-job` runs on.
#pragma once

#include <napi.h>

// terminalSettings(fd): { termios, winsize }: the raw struct termios2 (TCGETS2) and struct
// winsize (TIOCGWINSZ) of the terminal cr's `fd` is on.
Napi::Value TerminalSettings(const Napi::CallbackInfo& info);
// setTermios(fd, termios): TCSETS2 with a struct termios2 as terminalSettings gave it (SIGTTOU
// blocked, as for setForeground).
Napi::Value SetTermios(const Napi::CallbackInfo& info);
// openPtyPair(flags): a new pseudo-terminal pair of cr's: { master, index } (/dev/ptmx opened
// O_RDWR|O_NOCTTY with O_NONBLOCK as `flags` has it, unlocked; the slave is /dev/pts/INDEX).
Napi::Value OpenPtyPair(const Napi::CallbackInfo& info);
// setWinsize(fd, winsize): TIOCSWINSZ with a struct winsize as terminalSettings gave it.
Napi::Value SetWinsize(const Napi::CallbackInfo& info);
// setForeground(fd, pgrp): tcsetpgrp(fd, pgrp) on cr's controlling terminal, with SIGTTOU
// blocked: cr may be in a background group by then (it lent the terminal to a job).
Napi::Value SetForeground(const Napi::CallbackInfo& info);
