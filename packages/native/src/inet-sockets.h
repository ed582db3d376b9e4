// Network sockets (AF_INET, AF_INET6: TCP and UDP): what cr reads of one through a descriptor
// of its own on it (pidfd_getfd: the same socket), and the calls that make one again at restart.
#pragma once

#include <napi.h>

// inetSocketState(fd): { family, type, protocol, local, peer, tcpState, backlog, pending, inq }.
// `local`, `peer`: the sockaddr getsockname/getpeername give (`peer` empty: not connected);
// `tcpState`: TCP_INFO's tcpi_state (TCP_LISTEN, TCP_CLOSE, TCP_ESTABLISHED ...), -1 for UDP; a
// listening socket's `backlog` (listen()'s) and `pending` (connections waiting to be accepted);
// `inq`: a UDP socket's next datagram's size (SIOCINQ), 0 when none waits.
Napi::Value InetSocketState(const Napi::CallbackInfo& info);
// socketDomain(fd): { family, type, protocol } of any socket (SO_DOMAIN, SO_TYPE, SO_PROTOCOL):
// what an unbound socket is, which no /proc/net table lists.
Napi::Value SocketDomain(const Napi::CallbackInfo& info);
// inetSocketOptions(fd, family, protocol): [{ level, option, value }] for every option of
// INET_SOCKET_OPTIONS that applies to such a socket; a linger as its seconds (-1: off), a
// timeout in microseconds.
Napi::Value InetSocketOptions(const Napi::CallbackInfo& info);
// setInetSocketOptions(fd, options): sets each option of inetSocketOptions' shape that differs
// from the socket's (buffer sizes forced past the sysctl limits where CAP_NET_ADMIN allows).
Napi::Value SetInetSocketOptions(const Napi::CallbackInfo& info);
// inetSocket(family, type, protocol): a new socket of cr's, close-on-exec.
Napi::Value InetSocket(const Napi::CallbackInfo& info);
// bindInet(fd, sockaddr), connectInet(fd, sockaddr): bind(2), connect(2) (a UDP socket's: no wait).
Napi::Value BindInet(const Napi::CallbackInfo& info);
Napi::Value ConnectInet(const Napi::CallbackInfo& info);
