// UNIX sockets: what the kernel says of each (sock_diag), the options and queued bytes of one
// read through a descriptor of cr's own on it (pidfd_getfd: the same socket, so nothing of it is
// consumed), and the calls that make one again at restart.
#pragma once

#include <napi.h>

// unixSockets(): every AF_UNIX socket of cr's network namespace, from one NETLINK_SOCK_DIAG dump:
// [{ inode, type, state, peer, name, file, rqueue, wqueue, pending, shutdown }]. `peer` is 0
// when it has none or the peer is no socket any more (closed, or a connection not yet
// accepted); `name` the bound address (sun_path bytes, abstract ones after a 0 byte; empty:
// unnamed); `file` the { dev, ino } of the socket file it was bound to, or null; `pending` the
// connecting sockets a listening one holds, in accept order; `rqueue`/`wqueue` UNIX_DIAG_RQLEN
// (a listening socket: connections waiting and its backlog; else bytes queued to be read and
// bytes it sent that are not read yet).
Napi::Value UnixSockets(const Napi::CallbackInfo& info);
// socketOptions(fd): the options of the socket cr's `fd` is on that a program may rely on.
Napi::Value SocketOptions(const Napi::CallbackInfo& info);
// peekSocket(fd, type): what waits to be read in the socket, left in place: [{ data, from }],
// one per datagram or seqpacket message (`from`: the sender's address), one for a stream's bytes.
// The socket's SO_PEEK_OFF is set to walk the queue and put back after.
Napi::Value PeekSocket(const Napi::CallbackInfo& info);
// unixSocket(type): a new AF_UNIX socket of cr's, close-on-exec.
Napi::Value UnixSocket(const Napi::CallbackInfo& info);
// unixSocketPair(type): [a, b], connected to each other, close-on-exec.
Napi::Value UnixSocketPair(const Napi::CallbackInfo& info);
// bindUnix(fd, name): bind(2) to a path or (after a 0 byte) an abstract name.
Napi::Value BindUnix(const Napi::CallbackInfo& info);
// listenSocket(fd, backlog): listen(2).
Napi::Value ListenSocket(const Napi::CallbackInfo& info);
// connectUnix(fd, name): connect(2) without waiting: EAGAIN when the listener's backlog is full.
Napi::Value ConnectUnix(const Napi::CallbackInfo& info);
// sendMessages(fd, messages, to): sends each Buffer in order without blocking (a stream's whole,
// a datagram's as one message), to `to` when it is a name, else to the peer. EAGAIN when they
// do not fit; the sender's buffer is grown (SO_SNDBUFFORCE) to hold them first.
Napi::Value SendMessages(const Napi::CallbackInfo& info);
// shutdownSocket(fd, how): shutdown(2).
Napi::Value ShutdownSocket(const Napi::CallbackInfo& info);
// setSocketOptions(fd, options): sets each option of socketOptions' shape that differs from the
// socket's (buffer sizes forced past the sysctl limits where CAP_NET_ADMIN allows).
Napi::Value SetSocketOptions(const Napi::CallbackInfo& info);
