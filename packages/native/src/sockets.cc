#include "sockets.h"

#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/sockios.h>
#include <linux/unix_diag.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "args.h"
#include "errors.h"
#include "kernel_abi.h"
#include "procfs.h"
#include "sockopt.h"

namespace {

struct Diag {
  uint32_t inode = 0, peer = 0, rqueue = 0, wqueue = 0;
  uint8_t type = 0, state = 0, shutdown = 0;
  std::string name;
  bool hasFile = false;
  uint32_t fileDev = 0, fileIno = 0;
  std::vector<uint32_t> pending;
};

// A path name comes with its terminating 0 (and whatever followed it in sun_path); an abstract
// name is exactly its bytes, the leading 0 included.
std::string NameOf(const char* bytes, size_t length) {
  if (length > 0 && bytes[0] != 0) length = strnlen(bytes, length);
  return std::string(bytes, length);
}

void ReadAttribute(const rtattr* a, Diag& d) {
  const void* data = RTA_DATA(a);
  size_t length = RTA_PAYLOAD(a);
  switch (a->rta_type) {
    case UNIX_DIAG_NAME:
      d.name = NameOf(static_cast<const char*>(data), length);
      break;
    case UNIX_DIAG_VFS: {
      auto vfs = static_cast<const unix_diag_vfs*>(data);
      d.hasFile = true;
      d.fileDev = vfs->udiag_vfs_dev;
      d.fileIno = vfs->udiag_vfs_ino;
      break;
    }
    case UNIX_DIAG_PEER:
      d.peer = *static_cast<const uint32_t*>(data);
      break;
    case UNIX_DIAG_ICONS:
      for (size_t i = 0; i < length / sizeof(uint32_t); i++) d.pending.push_back(static_cast<const uint32_t*>(data)[i]);
      break;
    case UNIX_DIAG_RQLEN: {
      auto rq = static_cast<const unix_diag_rqlen*>(data);
      d.rqueue = rq->udiag_rqueue;
      d.wqueue = rq->udiag_wqueue;
      break;
    }
    case UNIX_DIAG_SHUTDOWN:
      d.shutdown = *static_cast<const uint8_t*>(data);
      break;
  }
}

Diag ReadMessage(const nlmsghdr* h) {
  auto m = static_cast<const unix_diag_msg*>(NLMSG_DATA(h));
  Diag d;
  d.inode = m->udiag_ino;
  d.type = m->udiag_type;
  d.state = m->udiag_state;
  int length = static_cast<int>(h->nlmsg_len - NLMSG_LENGTH(sizeof *m));
  for (auto a = reinterpret_cast<const rtattr*>(m + 1); RTA_OK(a, length); a = RTA_NEXT(a, length)) ReadAttribute(a, d);
  return d;
}

// One dump of every AF_UNIX socket of cr's network namespace.
Status DumpUnixSockets(std::vector<Diag>& out) {
  Fd nl(socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG));
  if (!nl.ok()) return SysFailure("socket NETLINK_SOCK_DIAG");
  struct {
    nlmsghdr h;
    unix_diag_req r;
  } req{};
  req.h.nlmsg_len = sizeof req;
  req.h.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  req.r.sdiag_family = AF_UNIX;
  req.r.udiag_states = ~0u;
  req.r.udiag_show = UDIAG_SHOW_NAME | UDIAG_SHOW_VFS | UDIAG_SHOW_PEER | UDIAG_SHOW_ICONS | UDIAG_SHOW_RQLEN;
  if (send(nl.get(), &req, sizeof req, 0) < 0) return SysFailure("send sock_diag request");
  std::vector<char> buffer(64 << 10);
  for (;;) {
    ssize_t n = recv(nl.get(), buffer.data(), buffer.size(), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return SysFailure(n < 0 ? errno : EIO, "recv sock_diag dump");
    int left = static_cast<int>(n);
    for (auto h = reinterpret_cast<const nlmsghdr*>(buffer.data()); NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
      if (h->nlmsg_type == NLMSG_DONE) return std::nullopt;
      if (h->nlmsg_type == NLMSG_ERROR) return SysFailure(-static_cast<const nlmsgerr*>(NLMSG_DATA(h))->error, "sock_diag dump");
      out.push_back(ReadMessage(h));
    }
  }
}

Napi::Object DiagObject(Napi::Env env, const Diag& d) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("inode", BigU64(env, d.inode));
  o.Set("type", d.type);
  o.Set("state", d.state);
  o.Set("peer", BigU64(env, d.peer));
  o.Set("name", Napi::Buffer<char>::Copy(env, d.name.data(), d.name.size()));
  if (d.hasFile) {
    Napi::Object file = Napi::Object::New(env);
    file.Set("dev", BigU64(env, d.fileDev));
    file.Set("ino", BigU64(env, d.fileIno));
    o.Set("file", file);
  } else {
    o.Set("file", env.Null());
  }
  o.Set("rqueue", d.rqueue);
  o.Set("wqueue", d.wqueue);
  Napi::Array pending = Napi::Array::New(env, d.pending.size());
  for (size_t i = 0; i < d.pending.size(); i++) pending.Set(i, BigU64(env, d.pending[i]));
  o.Set("pending", pending);
  o.Set("shutdown", d.shutdown);
  return o;
}

// An option this kernel may not have yet (SO_PASSPIDFD 6.5, SO_PASSRIGHTS 6.16): its default then.
Status GetNewerInt(int fd, int option, int fallback, int& value) {
  Status s = GetSockInt(fd, SOL_SOCKET, option, value);
  if (s && s->err == ENOPROTOOPT) {
    value = fallback;
    return std::nullopt;
  }
  return s;
}

struct Options {
  int type = 0, passcred = 0, passsec = 0, passpidfd = 0, passrights = 1;
  int sndbuf = 0, rcvbuf = 0, rcvlowat = 0, peekOffset = -1;
  double rcvtimeoUs = 0, sndtimeoUs = 0;
};

Status ReadOptions(int fd, Options& o) {
  for (auto [option, value] : {std::pair{SO_TYPE, &o.type}, {SO_PASSCRED, &o.passcred}, {SO_PASSSEC, &o.passsec}, {SO_SNDBUF, &o.sndbuf},
                               {SO_RCVBUF, &o.rcvbuf}, {SO_RCVLOWAT, &o.rcvlowat}, {SO_PEEK_OFF, &o.peekOffset}}) {
    if (Status s = GetSockInt(fd, SOL_SOCKET, option, *value)) return s;
  }
  if (Status s = GetNewerInt(fd, SO_PASSPIDFD, 0, o.passpidfd)) return s;
  if (Status s = GetNewerInt(fd, SO_PASSRIGHTS, 1, o.passrights)) return s;
  if (Status s = GetSockMicros(fd, SO_RCVTIMEO, o.rcvtimeoUs)) return s;
  return GetSockMicros(fd, SO_SNDTIMEO, o.sndtimeoUs);
}

Napi::Object OptionsObject(Napi::Env env, const Options& o) {
  Napi::Object out = Napi::Object::New(env);
  out.Set("type", o.type);
  out.Set("passcred", o.passcred != 0);
  out.Set("passsec", o.passsec != 0);
  out.Set("passpidfd", o.passpidfd != 0);
  out.Set("passrights", o.passrights != 0);
  out.Set("sndbuf", o.sndbuf);
  out.Set("rcvbuf", o.rcvbuf);
  out.Set("rcvlowat", o.rcvlowat);
  out.Set("peekOffset", o.peekOffset);
  out.Set("rcvtimeoUs", o.rcvtimeoUs);
  out.Set("sndtimeoUs", o.sndtimeoUs);
  return out;
}

bool OptionsFrom(const Napi::Value& value, Options& o) {
  if (!value.IsObject()) return false;
  Napi::Object in = value.As<Napi::Object>();
  auto flag = [&](const char* key, int& out) { out = in.Get(key).ToBoolean().Value() ? 1 : 0; };
  auto number = [&](const char* key, double& out) {
    Napi::Value v = in.Get(key);
    if (!v.IsNumber()) return false;
    out = v.As<Napi::Number>().DoubleValue();
    return true;
  };
  flag("passcred", o.passcred);
  flag("passsec", o.passsec);
  flag("passpidfd", o.passpidfd);
  flag("passrights", o.passrights);
  double sndbuf, rcvbuf, rcvlowat, peekOffset;
  if (!number("sndbuf", sndbuf) || !number("rcvbuf", rcvbuf) || !number("rcvlowat", rcvlowat) || !number("peekOffset", peekOffset) ||
      !number("rcvtimeoUs", o.rcvtimeoUs) || !number("sndtimeoUs", o.sndtimeoUs)) {
    return false;
  }
  o.sndbuf = static_cast<int>(sndbuf);
  o.rcvbuf = static_cast<int>(rcvbuf);
  o.rcvlowat = static_cast<int>(rcvlowat);
  o.peekOffset = static_cast<int>(peekOffset);
  return true;
}

Status WriteOptions(int fd, const Options& want) {
  Options now;
  if (Status s = ReadOptions(fd, now)) return s;
  for (auto [option, have, value] : {std::tuple{SO_PASSCRED, now.passcred, want.passcred}, {SO_PASSSEC, now.passsec, want.passsec},
                                     {SO_PASSPIDFD, now.passpidfd, want.passpidfd}, {SO_PASSRIGHTS, now.passrights, want.passrights},
                                     {SO_RCVLOWAT, now.rcvlowat, want.rcvlowat}, {SO_PEEK_OFF, now.peekOffset, want.peekOffset}}) {
    if (have == value) continue;
    if (Status s = SetSockInt(fd, SOL_SOCKET, option, value)) return s;
  }
  if (now.sndbuf != want.sndbuf) {
    if (Status s = SetSockBuffer(fd, SO_SNDBUFFORCE, SO_SNDBUF, want.sndbuf)) return s;
  }
  if (now.rcvbuf != want.rcvbuf) {
    if (Status s = SetSockBuffer(fd, SO_RCVBUFFORCE, SO_RCVBUF, want.rcvbuf)) return s;
  }
  if (now.rcvtimeoUs != want.rcvtimeoUs) {
    if (Status s = SetSockMicros(fd, SO_RCVTIMEO, want.rcvtimeoUs)) return s;
  }
  if (now.sndtimeoUs != want.sndtimeoUs) return SetSockMicros(fd, SO_SNDTIMEO, want.sndtimeoUs);
  return std::nullopt;
}

// Walks the receive queue with SO_PEEK_OFF from 0, and puts the program's offset back however
// the walk ends. The program is stopped meanwhile, and only its own MSG_PEEK reads use the offset
// (were cr killed mid-walk, those would start where cr's walk stopped).
class PeekOffset {
 public:
  explicit PeekOffset(int fd) : fd_(fd) {}
  Status Begin() {
    if (Status s = GetSockInt(fd_, SOL_SOCKET, SO_PEEK_OFF, saved_)) return s;
    if (Status s = SetSockInt(fd_, SOL_SOCKET, SO_PEEK_OFF, 0)) return s;
    set_ = true;
    return std::nullopt;
  }
  Status End() {
    set_ = false;
    return SetSockInt(fd_, SOL_SOCKET, SO_PEEK_OFF, saved_);
  }
  ~PeekOffset() {
    if (set_) setsockopt(fd_, SOL_SOCKET, SO_PEEK_OFF, &saved_, sizeof saved_);
  }

 private:
  int fd_;
  int saved_ = -1;
  bool set_ = false;
};

struct Message {
  std::vector<uint8_t> data;
  std::string from;
};

constexpr size_t kStreamChunk = 256 << 10;

// A stream's bytes, peeked chunk after chunk (a peek also stops where SO_PASSCRED separates
// two writers' bytes): up to EAGAIN, or 0 at the end of a peer that shut down.
Status PeekStream(int fd, std::vector<Message>& out) {
  Message all;
  for (;;) {
    size_t at = all.data.size();
    all.data.resize(at + kStreamChunk);
    ssize_t n = recv(fd, all.data.data() + at, kStreamChunk, MSG_PEEK | MSG_DONTWAIT);
    all.data.resize(at + (n > 0 ? n : 0));
    if (n > 0) continue;
    if (n < 0 && errno != EAGAIN) return SysFailure("recv MSG_PEEK");
    break;
  }
  if (!all.data.empty()) out.push_back(std::move(all));
  return std::nullopt;
}

// One message's length (MSG_TRUNC gives it whole, nothing copied, the offset not moved), then
// the message; `more` false at the end of the queue.
Status PeekMessage(int fd, bool eofAtEnd, size_t& peeked, size_t queued, std::vector<Message>& out, bool& more) {
  sockaddr_un from{};
  msghdr m{};
  m.msg_name = &from;
  m.msg_namelen = sizeof from;
  ssize_t length = recvmsg(fd, &m, MSG_PEEK | MSG_DONTWAIT | MSG_TRUNC);
  more = false;
  if (length < 0 && errno == EAGAIN) return std::nullopt;
  if (length < 0) return SysFailure("recvmsg MSG_PEEK");
  // A seqpacket whose peer shut down reads 0 at the end; a 0-byte message before it is one. (One
  // at the very end is taken for the end: the queued length cannot tell them apart there.)
  if (length == 0 && eofAtEnd && peeked >= queued) return std::nullopt;
  size_t nameLength = m.msg_namelen > offsetof(sockaddr_un, sun_path) ? m.msg_namelen - offsetof(sockaddr_un, sun_path) : 0;
  Message message;
  message.from = NameOf(from.sun_path, nameLength);
  message.data.resize(length);
  if (length > 0) {
    iovec iov{message.data.data(), message.data.size()};
    msghdr body{};
    body.msg_iov = &iov;
    body.msg_iovlen = 1;
    ssize_t got = recvmsg(fd, &body, MSG_PEEK | MSG_DONTWAIT);
    if (got != length) return SysFailure(got < 0 ? errno : EIO, "recvmsg MSG_PEEK");
  }
  peeked += length;
  out.push_back(std::move(message));
  more = true;
  return std::nullopt;
}

Status PeekMessages(int fd, bool eofAtEnd, std::vector<Message>& out) {
  int queued = 0;  // a seqpacket's: every message's bytes
  if (eofAtEnd && ioctl(fd, SIOCINQ, &queued) < 0) return SysFailure("ioctl SIOCINQ");
  size_t peeked = 0;
  for (bool more = true; more;) {
    if (Status s = PeekMessage(fd, eofAtEnd, peeked, static_cast<size_t>(queued), out, more)) return s;
  }
  return std::nullopt;
}

bool ArgName(const Napi::CallbackInfo& info, size_t i, sockaddr_un& address, socklen_t& length) {
  Napi::Buffer<uint8_t> name;
  if (!ArgBuffer(info, i, "name", name)) return false;
  if (name.Length() == 0 || name.Length() >= sizeof address.sun_path) {
    ThrowType(info.Env(), "name must be 1.." + std::to_string(sizeof address.sun_path - 1) + " bytes");
    return false;
  }
  address = sockaddr_un{};
  address.sun_family = AF_UNIX;
  memcpy(address.sun_path, name.Data(), name.Length());
  // A path ends with the 0 that follows it; an abstract name is its bytes exactly.
  length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.Length() + (name.Data()[0] != 0 ? 1 : 0));
  return true;
}

std::string Printable(const sockaddr_un& address, socklen_t length) {
  std::string name(address.sun_path, length - offsetof(sockaddr_un, sun_path));
  if (!name.empty() && name[0] == 0) name[0] = '@';
  return NameOf(name.data(), name.size());
}

Napi::Value Done(Napi::Env env, const Status& s) { return s ? Throw(env, *s) : env.Undefined(); }

// Room in the sender's buffer for `bytes` sent at once (each message costs a buffer head too).
Status MakeRoom(int fd, size_t bytes, size_t messages) {
  int now = 0;
  if (Status s = GetSockInt(fd, SOL_SOCKET, SO_SNDBUF, now)) return s;
  size_t need = 2 * (bytes + messages * 1024) + (64 << 10);
  if (static_cast<size_t>(now) >= need || need > INT32_MAX) return std::nullopt;
  return SetSockBuffer(fd, SO_SNDBUFFORCE, SO_SNDBUF, static_cast<int>(need));
}

Status SendAll(int fd, const uint8_t* data, size_t length, const sockaddr_un* to, socklen_t toLength, bool stream) {
  size_t sent = 0;
  do {
    ssize_t n = sendto(fd, data + sent, length - sent, MSG_DONTWAIT | MSG_NOSIGNAL, reinterpret_cast<const sockaddr*>(to), toLength);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return SysFailure("sendto");
    sent += n;
  } while (stream && sent < length);
  return std::nullopt;
}

}  // namespace

Napi::Value UnixSockets(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::vector<Diag> sockets;
  if (Status s = DumpUnixSockets(sockets)) return Throw(env, *s);
  Napi::Array out = Napi::Array::New(env, sockets.size());
  for (size_t i = 0; i < sockets.size(); i++) out.Set(i, DiagObject(env, sockets[i]));
  return out;
}

Napi::Value SocketOptions(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  if (!ArgInt(info, 0, "fd", fd)) return env.Undefined();
  Options o;
  if (Status s = ReadOptions(fd, o)) return Throw(env, *s);
  return OptionsObject(env, o);
}

Napi::Value PeekSocket(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd, type;
  if (!ArgInt(info, 0, "fd", fd) || !ArgInt(info, 1, "type", type)) return env.Undefined();
  bool eofAtEnd = info.Length() > 2 && info[2].ToBoolean().Value();
  std::vector<Message> messages;
  PeekOffset offset(fd);
  if (Status s = offset.Begin()) return Throw(env, *s);
  Status walked = type == SOCK_STREAM ? PeekStream(fd, messages) : PeekMessages(fd, eofAtEnd && type == SOCK_SEQPACKET, messages);
  if (walked) return Throw(env, *walked);
  if (Status s = offset.End()) return Throw(env, *s);
  Napi::Array out = Napi::Array::New(env, messages.size());
  for (size_t i = 0; i < messages.size(); i++) {
    Napi::Object m = Napi::Object::New(env);
    m.Set("data", Napi::Buffer<uint8_t>::Copy(env, messages[i].data.data(), messages[i].data.size()));
    m.Set("from", Napi::Buffer<char>::Copy(env, messages[i].from.data(), messages[i].from.size()));
    out.Set(i, m);
  }
  return out;
}

Napi::Value UnixSocket(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int type;
  if (!ArgInt(info, 0, "type", type)) return env.Undefined();
  int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
  if (fd < 0) return Throw(env, SysFailure("socket AF_UNIX"));
  return Napi::Number::New(env, fd);
}

Napi::Value UnixSocketPair(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int type, fds[2];
  if (!ArgInt(info, 0, "type", type)) return env.Undefined();
  if (socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, fds) < 0) return Throw(env, SysFailure("socketpair AF_UNIX"));
  Napi::Array out = Napi::Array::New(env, 2);
  out.Set(0u, fds[0]);
  out.Set(1u, fds[1]);
  return out;
}

Napi::Value BindUnix(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  sockaddr_un address;
  socklen_t length;
  if (!ArgInt(info, 0, "fd", fd) || !ArgName(info, 1, address, length)) return env.Undefined();
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), length) < 0) {
    Failure f = SysFailure("bind");
    f.path = Printable(address, length);
    return Throw(env, f);
  }
  return env.Undefined();
}

Napi::Value ListenSocket(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd, backlog;
  if (!ArgInt(info, 0, "fd", fd) || !ArgInt(info, 1, "backlog", backlog)) return env.Undefined();
  return Done(env, listen(fd, backlog) < 0 ? Status(SysFailure("listen")) : std::nullopt);
}

Napi::Value ConnectUnix(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  sockaddr_un address;
  socklen_t length;
  if (!ArgInt(info, 0, "fd", fd) || !ArgName(info, 1, address, length)) return env.Undefined();
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) return Throw(env, SysFailure("fcntl F_SETFL"));
  int connected = connect(fd, reinterpret_cast<sockaddr*>(&address), length);
  Failure f = SysFailure("connect");
  f.path = Printable(address, length);
  if (fcntl(fd, F_SETFL, flags) < 0) return Throw(env, SysFailure("fcntl F_SETFL"));
  return Done(env, connected < 0 ? Status(f) : std::nullopt);
}

Napi::Value SendMessages(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  if (!ArgInt(info, 0, "fd", fd)) return env.Undefined();
  if (info.Length() < 2 || !info[1].IsArray()) return ThrowType(env, "messages must be an array of Buffers");
  Napi::Array messages = info[1].As<Napi::Array>();
  sockaddr_un to{};
  socklen_t toLength = 0;
  if (info.Length() > 2 && !info[2].IsNull() && !info[2].IsUndefined() && !ArgName(info, 2, to, toLength)) return env.Undefined();
  int type = 0;
  if (Status s = GetSockInt(fd, SOL_SOCKET, SO_TYPE, type)) return Throw(env, *s);
  size_t bytes = 0;
  for (uint32_t i = 0; i < messages.Length(); i++) {
    if (!messages.Get(i).IsBuffer()) return ThrowType(env, "messages must be an array of Buffers");
    bytes += messages.Get(i).As<Napi::Buffer<uint8_t>>().Length();
  }
  if (Status s = MakeRoom(fd, bytes, messages.Length())) return Throw(env, *s);
  for (uint32_t i = 0; i < messages.Length(); i++) {
    auto data = messages.Get(i).As<Napi::Buffer<uint8_t>>();
    if (Status s = SendAll(fd, data.Data(), data.Length(), toLength ? &to : nullptr, toLength, type == SOCK_STREAM)) return Throw(env, *s);
  }
  return env.Undefined();
}

Napi::Value ShutdownSocket(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd, how;
  if (!ArgInt(info, 0, "fd", fd) || !ArgInt(info, 1, "how", how)) return env.Undefined();
  return Done(env, shutdown(fd, how) < 0 ? Status(SysFailure("shutdown")) : std::nullopt);
}

Napi::Value SetSocketOptions(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  Options want;
  if (!ArgInt(info, 0, "fd", fd)) return env.Undefined();
  if (info.Length() < 2 || !OptionsFrom(info[1], want)) return ThrowType(env, "options must be socketOptions' shape");
  return Done(env, WriteOptions(fd, want));
}
