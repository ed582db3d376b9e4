// TCP connections saved and made again with TCP_REPAIR (Linux 3.11+, CAP_NET_ADMIN): sequence
// numbers, both queues, window, options. The connection is locked (nftables, in core) while
// this runs, so neither end moves.
#pragma once

#include <napi.h>

// tcpRepairSave(fd): the state of the established TCP connection cr's `fd` is on: { inqSeq,
// outqSeq, inq, outq, unsent, mss, options, sndWscale, rcvWscale, timestamp, window: { sndWl1,
// sndWnd, maxWindow, rcvWnd, rcvWup } }. `inq`: bytes received not read; `outq`: bytes written
// not acknowledged, of which the last `unsent` were never sent. Repair mode is on while it
// reads, and off again after without a window probe (the connection goes on as it was).
Napi::Value TcpRepairSave(const Napi::CallbackInfo& info);
// tcpRepairRestore(fd, local, peer, saved): a new TCP socket of cr's becomes the saved connection:
// in repair mode bound to `local`, its sequence numbers set, "connected" to `peer` without a
// handshake, its options, timestamp clock, queues and window as saved, then out of repair mode
// (the peer gets a window probe: it resends what it had not had acknowledged).
Napi::Value TcpRepairRestore(const Napi::CallbackInfo& info);
// tcpRepairOn(fd): repair mode on, so that the socket's close sends nothing (no FIN, no RST):
// the connection lives on in the image.
Napi::Value TcpRepairOn(const Napi::CallbackInfo& info);
