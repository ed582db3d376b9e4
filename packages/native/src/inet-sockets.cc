#include "inet-sockets.h"

#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cerrno>
#include <string>

#include "args.h"
#include "errors.h"
#include "sockopt.h"

namespace {

enum class Kind { Int, Buffer, Linger, Micros };

// The options a program sets on a network socket and relies on after a restart.
struct InetOption {
  const char* name;
  int level, option;
  Kind kind;
  int force;  // Buffer: the *FORCE option that passes the sysctl limit
};

#define OPT(level, name) #name, level, name
const InetOption kOptions[] = {
    {OPT(SOL_SOCKET, SO_REUSEADDR), Kind::Int, 0},
    {OPT(SOL_SOCKET, SO_REUSEPORT), Kind::Int, 0},
    {OPT(SOL_SOCKET, SO_KEEPALIVE), Kind::Int, 0},
    {OPT(SOL_SOCKET, SO_BROADCAST), Kind::Int, 0},
    {OPT(SOL_SOCKET, SO_OOBINLINE), Kind::Int, 0},
    {OPT(SOL_SOCKET, SO_DONTROUTE), Kind::Int, 0},
    {OPT(SOL_SOCKET, SO_PRIORITY), Kind::Int, 0},
    {OPT(SOL_SOCKET, SO_MARK), Kind::Int, 0},
    {OPT(SOL_SOCKET, SO_RCVLOWAT), Kind::Int, 0},
    {OPT(SOL_SOCKET, SO_TIMESTAMP), Kind::Int, 0},
    {OPT(SOL_SOCKET, SO_SNDBUF), Kind::Buffer, SO_SNDBUFFORCE},
    {OPT(SOL_SOCKET, SO_RCVBUF), Kind::Buffer, SO_RCVBUFFORCE},
    {OPT(SOL_SOCKET, SO_LINGER), Kind::Linger, 0},
    {OPT(SOL_SOCKET, SO_RCVTIMEO), Kind::Micros, 0},
    {OPT(SOL_SOCKET, SO_SNDTIMEO), Kind::Micros, 0},
    {OPT(IPPROTO_TCP, TCP_NODELAY), Kind::Int, 0},
    {OPT(IPPROTO_TCP, TCP_CORK), Kind::Int, 0},
    {OPT(IPPROTO_TCP, TCP_KEEPIDLE), Kind::Int, 0},
    {OPT(IPPROTO_TCP, TCP_KEEPINTVL), Kind::Int, 0},
    {OPT(IPPROTO_TCP, TCP_KEEPCNT), Kind::Int, 0},
    {OPT(IPPROTO_TCP, TCP_SYNCNT), Kind::Int, 0},
    {OPT(IPPROTO_TCP, TCP_LINGER2), Kind::Int, 0},
    {OPT(IPPROTO_TCP, TCP_DEFER_ACCEPT), Kind::Int, 0},
    {OPT(IPPROTO_TCP, TCP_FASTOPEN), Kind::Int, 0},
    {OPT(IPPROTO_TCP, TCP_USER_TIMEOUT), Kind::Int, 0},
    {OPT(IPPROTO_TCP, TCP_NOTSENT_LOWAT), Kind::Int, 0},
    {OPT(IPPROTO_IP, IP_TOS), Kind::Int, 0},
    {OPT(IPPROTO_IP, IP_TTL), Kind::Int, 0},
    {OPT(IPPROTO_IP, IP_FREEBIND), Kind::Int, 0},
    {OPT(IPPROTO_IP, IP_TRANSPARENT), Kind::Int, 0},
    {OPT(IPPROTO_IP, IP_RECVERR), Kind::Int, 0},
    {OPT(IPPROTO_IP, IP_PKTINFO), Kind::Int, 0},
    {OPT(IPPROTO_IP, IP_RECVTOS), Kind::Int, 0},
    {OPT(IPPROTO_IP, IP_MULTICAST_TTL), Kind::Int, 0},
    {OPT(IPPROTO_IP, IP_MULTICAST_LOOP), Kind::Int, 0},
    {OPT(IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT), Kind::Int, 0},
    {OPT(IPPROTO_IPV6, IPV6_V6ONLY), Kind::Int, 0},
    {OPT(IPPROTO_IPV6, IPV6_UNICAST_HOPS), Kind::Int, 0},
    {OPT(IPPROTO_IPV6, IPV6_TCLASS), Kind::Int, 0},
    {OPT(IPPROTO_IPV6, IPV6_RECVPKTINFO), Kind::Int, 0},
    {OPT(IPPROTO_IPV6, IPV6_MULTICAST_HOPS), Kind::Int, 0},
    {OPT(IPPROTO_IPV6, IPV6_MULTICAST_LOOP), Kind::Int, 0},
    {OPT(IPPROTO_IPV6, IPV6_RECVERR), Kind::Int, 0},
};
#undef OPT

// Multicast options mean nothing to TCP, which refuses to set them (EINVAL) and gives an
// accepted socket another value than a new one.
bool Multicast(const InetOption& o) { return std::string(o.name).find("MULTICAST") != std::string::npos; }

// TCP options for TCP sockets only, IP ones for AF_INET, IPv6 ones for AF_INET6.
bool Applies(const InetOption& o, int family, int protocol) {
  switch (o.level) {
    case IPPROTO_TCP: return protocol == IPPROTO_TCP;
    case IPPROTO_IP: return family == AF_INET && (protocol == IPPROTO_UDP || !Multicast(o));
    case IPPROTO_IPV6: return family == AF_INET6 && (protocol == IPPROTO_UDP || !Multicast(o));
    default: return true;
  }
}

const InetOption* Find(int level, int option) {
  for (const InetOption& o : kOptions) {
    if (o.level == level && o.option == option) return &o;
  }
  return nullptr;
}

Status Get(int fd, const InetOption& o, double& value) {
  if (o.kind == Kind::Micros) return GetSockMicros(fd, o.option, value);
  if (o.kind == Kind::Linger) {
    linger l{};
    socklen_t length = sizeof l;
    if (getsockopt(fd, o.level, o.option, &l, &length) < 0) return SysFailure(std::string("getsockopt ") + o.name);
    value = l.l_onoff ? l.l_linger : -1;
    return std::nullopt;
  }
  int v = 0;
  if (Status s = GetSockInt(fd, o.level, o.option, v)) {
    s->syscall = std::string("getsockopt ") + o.name;
    return s;
  }
  value = v;
  return std::nullopt;
}

Status Set(int fd, const InetOption& o, double value) {
  Status s;
  if (o.kind == Kind::Micros) {
    s = SetSockMicros(fd, o.option, value);
  } else if (o.kind == Kind::Buffer) {
    s = SetSockBuffer(fd, o.force, o.option, static_cast<int>(value));
  } else if (o.kind == Kind::Linger) {
    linger l{value >= 0 ? 1 : 0, value >= 0 ? static_cast<int>(value) : 0};
    if (setsockopt(fd, o.level, o.option, &l, sizeof l) < 0) s = SysFailure("setsockopt");
  } else {
    s = SetSockInt(fd, o.level, o.option, static_cast<int>(value));
  }
  if (s) s->syscall = std::string("setsockopt ") + o.name;
  return s;
}

Napi::Buffer<uint8_t> Address(Napi::Env env, const sockaddr_storage& a, socklen_t length) {
  return Napi::Buffer<uint8_t>::Copy(env, reinterpret_cast<const uint8_t*>(&a), length);
}

Status ReadDomain(int fd, int& family, int& type, int& protocol) {
  for (auto [option, value] : {std::pair{SO_DOMAIN, &family}, {SO_TYPE, &type}, {SO_PROTOCOL, &protocol}}) {
    if (Status s = GetSockInt(fd, SOL_SOCKET, option, *value)) return s;
  }
  return std::nullopt;
}

Napi::Object DomainObject(Napi::Env env, int family, int type, int protocol) {
  Napi::Object out = Napi::Object::New(env);
  out.Set("family", family);
  out.Set("type", type);
  out.Set("protocol", protocol);
  return out;
}

// bind(2) or connect(2) of info's (fd, sockaddr Buffer).
Napi::Value ToAddress(const Napi::CallbackInfo& info, int (*call)(int, const sockaddr*, socklen_t), const char* name) {
  Napi::Env env = info.Env();
  int fd;
  Napi::Buffer<uint8_t> address;
  if (!ArgInt(info, 0, "fd", fd) || !ArgBuffer(info, 1, "address", address)) return env.Undefined();
  if (call(fd, reinterpret_cast<const sockaddr*>(address.Data()), static_cast<socklen_t>(address.Length())) < 0) return Throw(env, SysFailure(name));
  return env.Undefined();
}

}  // namespace

Napi::Value InetSocketState(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  if (!ArgInt(info, 0, "fd", fd)) return env.Undefined();
  int family = 0, type = 0, protocol = 0;
  if (Status s = ReadDomain(fd, family, type, protocol)) return Throw(env, *s);
  sockaddr_storage local{}, peer{};
  socklen_t localLength = sizeof local, peerLength = sizeof peer;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &localLength) < 0) return Throw(env, SysFailure("getsockname"));
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &peerLength) < 0) {
    if (errno != ENOTCONN) return Throw(env, SysFailure("getpeername"));
    peerLength = 0;
  }
  int tcpState = -1, backlog = 0, pending = 0, inq = 0;
  if (protocol == IPPROTO_TCP) {
    tcp_info t{};
    socklen_t length = sizeof t;
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &t, &length) < 0) return Throw(env, SysFailure("getsockopt TCP_INFO"));
    tcpState = t.tcpi_state;
    // A listening socket's TCP_INFO: tcpi_unacked is its accept queue, tcpi_sacked its backlog.
    if (tcpState == TCP_LISTEN) backlog = static_cast<int>(t.tcpi_sacked), pending = static_cast<int>(t.tcpi_unacked);
  } else if (ioctl(fd, SIOCINQ, &inq) < 0) {
    return Throw(env, SysFailure("ioctl SIOCINQ"));
  }
  Napi::Object out = DomainObject(env, family, type, protocol);
  out.Set("local", Address(env, local, localLength));
  out.Set("peer", Address(env, peer, peerLength));
  out.Set("tcpState", tcpState);
  out.Set("backlog", backlog);
  out.Set("pending", pending);
  out.Set("inq", inq);
  return out;
}

Napi::Value SocketDomain(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd, family = 0, type = 0, protocol = 0;
  if (!ArgInt(info, 0, "fd", fd)) return env.Undefined();
  if (Status s = ReadDomain(fd, family, type, protocol)) return Throw(env, *s);
  return DomainObject(env, family, type, protocol);
}

Napi::Value InetSocketOptions(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd, family, protocol;
  if (!ArgInt(info, 0, "fd", fd) || !ArgInt(info, 1, "family", family) || !ArgInt(info, 2, "protocol", protocol)) return env.Undefined();
  Napi::Array out = Napi::Array::New(env);
  for (const InetOption& o : kOptions) {
    if (!Applies(o, family, protocol)) continue;
    double value = 0;
    if (Status s = Get(fd, o, value)) {
      if (s->err == ENOPROTOOPT || s->err == EOPNOTSUPP) continue;  // not this kernel's, or not this protocol's
      return Throw(env, *s);
    }
    Napi::Object entry = Napi::Object::New(env);
    entry.Set("level", o.level);
    entry.Set("option", o.option);
    entry.Set("value", value);
    out.Set(out.Length(), entry);
  }
  return out;
}

Napi::Value SetInetSocketOptions(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  if (!ArgInt(info, 0, "fd", fd)) return env.Undefined();
  if (info.Length() < 2 || !info[1].IsArray()) return ThrowType(env, "options must be an array of { level, option, value }");
  Napi::Array options = info[1].As<Napi::Array>();
  for (uint32_t i = 0; i < options.Length(); i++) {
    Napi::Object entry = options.Get(i).As<Napi::Object>();
    int level = entry.Get("level").ToNumber().Int32Value(), option = entry.Get("option").ToNumber().Int32Value();
    double want = entry.Get("value").ToNumber().DoubleValue(), have = 0;
    const InetOption* o = Find(level, option);
    if (!o) return ThrowType(env, "unknown socket option " + std::to_string(level) + ":" + std::to_string(option));
    if (Status s = Get(fd, *o, have)) return Throw(env, *s);
    if (have == want) continue;
    if (Status s = Set(fd, *o, want)) return Throw(env, *s);
  }
  return env.Undefined();
}

Napi::Value InetSocket(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int family, type, protocol;
  if (!ArgInt(info, 0, "family", family) || !ArgInt(info, 1, "type", type) || !ArgInt(info, 2, "protocol", protocol)) return env.Undefined();
  int fd = socket(family, type | SOCK_CLOEXEC, protocol);
  if (fd < 0) return Throw(env, SysFailure("socket"));
  return Napi::Number::New(env, fd);
}

Napi::Value BindInet(const Napi::CallbackInfo& info) { return ToAddress(info, bind, "bind"); }

Napi::Value ConnectInet(const Napi::CallbackInfo& info) { return ToAddress(info, connect, "connect"); }
