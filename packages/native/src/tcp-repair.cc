#include "tcp-repair.h"

#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdint>
#include <string>
#include <vector>

#include "args.h"
#include "errors.h"
#include "sockopt.h"

namespace {

Status Repair(int fd, int mode) { return SetSockInt(fd, IPPROTO_TCP, TCP_REPAIR, mode); }

Status QueueSize(int fd, unsigned long request, const char* name, int& size) {
  if (ioctl(fd, request, &size) < 0) return SysFailure(std::string("ioctl ") + name);
  return std::nullopt;
}

// The sequence number a queue ends at, and its bytes (read with MSG_PEEK: left in place).
Status ReadQueue(int fd, int queue, uint32_t& seq, std::vector<uint8_t>& bytes) {
  if (Status s = SetSockInt(fd, IPPROTO_TCP, TCP_REPAIR_QUEUE, queue)) return s;
  socklen_t length = sizeof seq;
  if (getsockopt(fd, IPPROTO_TCP, TCP_QUEUE_SEQ, &seq, &length) < 0) return SysFailure("getsockopt TCP_QUEUE_SEQ");
  if (bytes.empty()) return std::nullopt;
  ssize_t got = recv(fd, bytes.data(), bytes.size(), MSG_PEEK | MSG_DONTWAIT);
  if (got < 0) return SysFailure("recv (peek of a repaired queue)");
  if (static_cast<size_t>(got) != bytes.size()) return Failure{EIO, "recv", 0, std::nullopt, "", "a queue held fewer bytes than its size said"};
  return std::nullopt;
}

struct Saved {
  uint32_t inqSeq = 0, outqSeq = 0, unsent = 0, timestamp = 0;
  int mss = 0;
  uint8_t options = 0, sndWscale = 0, rcvWscale = 0;
  tcp_repair_window window{};
  std::vector<uint8_t> inq, outq;
};

Status Save(int fd, Saved& out) {
  tcp_info info{};
  socklen_t length = sizeof info;
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &length) < 0) return SysFailure("getsockopt TCP_INFO");
  if (info.tcpi_state != TCP_ESTABLISHED) return Failure{EINVAL, "tcpRepairSave", 0, std::nullopt, "", "the connection is not established"};
  int inq = 0, outq = 0, unsent = 0;
  if (Status s = QueueSize(fd, SIOCINQ, "SIOCINQ", inq)) return s;
  if (Status s = QueueSize(fd, SIOCOUTQ, "SIOCOUTQ", outq)) return s;
  if (Status s = QueueSize(fd, SIOCOUTQNSD, "SIOCOUTQNSD", unsent)) return s;
  out.unsent = static_cast<uint32_t>(unsent);
  out.options = info.tcpi_options;
  out.sndWscale = info.tcpi_snd_wscale;
  out.rcvWscale = info.tcpi_rcv_wscale;
  if (Status s = GetSockInt(fd, IPPROTO_TCP, TCP_MAXSEG, out.mss)) return s;
  length = sizeof out.timestamp;
  if ((info.tcpi_options & TCPI_OPT_TIMESTAMPS) && getsockopt(fd, IPPROTO_TCP, TCP_TIMESTAMP, &out.timestamp, &length) < 0) return SysFailure("getsockopt TCP_TIMESTAMP");
  length = sizeof out.window;
  if (getsockopt(fd, IPPROTO_TCP, TCP_REPAIR_WINDOW, &out.window, &length) < 0) return SysFailure("getsockopt TCP_REPAIR_WINDOW");
  out.inq.resize(inq);
  out.outq.resize(outq);
  if (Status s = ReadQueue(fd, TCP_RECV_QUEUE, out.inqSeq, out.inq)) return s;
  return ReadQueue(fd, TCP_SEND_QUEUE, out.outqSeq, out.outq);
}

Napi::Object ToObject(Napi::Env env, const Saved& s) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("inqSeq", s.inqSeq);
  o.Set("outqSeq", s.outqSeq);
  o.Set("inq", Napi::Buffer<uint8_t>::Copy(env, s.inq.data(), s.inq.size()));
  o.Set("outq", Napi::Buffer<uint8_t>::Copy(env, s.outq.data(), s.outq.size()));
  o.Set("unsent", s.unsent);
  o.Set("mss", s.mss);
  o.Set("options", s.options);
  o.Set("sndWscale", s.sndWscale);
  o.Set("rcvWscale", s.rcvWscale);
  o.Set("timestamp", s.timestamp);
  Napi::Object w = Napi::Object::New(env);
  w.Set("sndWl1", s.window.snd_wl1);
  w.Set("sndWnd", s.window.snd_wnd);
  w.Set("maxWindow", s.window.max_window);
  w.Set("rcvWnd", s.window.rcv_wnd);
  w.Set("rcvWup", s.window.rcv_wup);
  o.Set("window", w);
  return o;
}

uint32_t U32(const Napi::Object& o, const char* key) { return o.Get(key).ToNumber().Uint32Value(); }

Saved FromObject(const Napi::Object& o) {
  Saved s;
  s.inqSeq = U32(o, "inqSeq");
  s.outqSeq = U32(o, "outqSeq");
  s.unsent = U32(o, "unsent");
  s.mss = static_cast<int>(U32(o, "mss"));
  s.options = static_cast<uint8_t>(U32(o, "options"));
  s.sndWscale = static_cast<uint8_t>(U32(o, "sndWscale"));
  s.rcvWscale = static_cast<uint8_t>(U32(o, "rcvWscale"));
  s.timestamp = U32(o, "timestamp");
  Napi::Buffer<uint8_t> inq = o.Get("inq").As<Napi::Buffer<uint8_t>>(), outq = o.Get("outq").As<Napi::Buffer<uint8_t>>();
  s.inq.assign(inq.Data(), inq.Data() + inq.Length());
  s.outq.assign(outq.Data(), outq.Data() + outq.Length());
  Napi::Object w = o.Get("window").As<Napi::Object>();
  s.window = {U32(w, "sndWl1"), U32(w, "sndWnd"), U32(w, "maxWindow"), U32(w, "rcvWnd"), U32(w, "rcvWup")};
  return s;
}

Status SetQueueSeq(int fd, int queue, uint32_t seq) {
  if (Status s = SetSockInt(fd, IPPROTO_TCP, TCP_REPAIR_QUEUE, queue)) return s;
  if (setsockopt(fd, IPPROTO_TCP, TCP_QUEUE_SEQ, &seq, sizeof seq) < 0) return SysFailure("setsockopt TCP_QUEUE_SEQ");
  return std::nullopt;
}

Status SetOptions(int fd, const Saved& s) {
  std::vector<tcp_repair_opt> opts;
  if (s.options & TCPI_OPT_SACK) opts.push_back({TCPOPT_SACK_PERMITTED, 0});
  if (s.options & TCPI_OPT_WSCALE) opts.push_back({TCPOPT_WINDOW, static_cast<uint32_t>(s.sndWscale) | (static_cast<uint32_t>(s.rcvWscale) << 16)});
  if (s.options & TCPI_OPT_TIMESTAMPS) opts.push_back({TCPOPT_TIMESTAMP, 0});
  opts.push_back({TCPOPT_MAXSEG, static_cast<uint32_t>(s.mss)});
  if (setsockopt(fd, IPPROTO_TCP, TCP_REPAIR_OPTIONS, opts.data(), opts.size() * sizeof(tcp_repair_opt)) < 0) return SysFailure("setsockopt TCP_REPAIR_OPTIONS");
  if ((s.options & TCPI_OPT_TIMESTAMPS) && setsockopt(fd, IPPROTO_TCP, TCP_TIMESTAMP, &s.timestamp, sizeof s.timestamp) < 0) return SysFailure("setsockopt TCP_TIMESTAMP");
  return std::nullopt;
}

// Writes `length` bytes into the queue repair mode points at: in pieces when the kernel refuses
// one large linear buffer (ENOMEM).
Status Refill(int fd, const uint8_t* data, size_t length) {
  size_t chunk = length;
  while (length > 0) {
    ssize_t sent = send(fd, data, std::min(chunk, length), 0);
    if (sent <= 0) {
      if (chunk > 1024) {
        chunk /= 2;
        continue;
      }
      return SysFailure("send (refill of a repaired queue)");
    }
    data += sent;
    length -= static_cast<size_t>(sent);
  }
  return std::nullopt;
}

Status RefillQueues(int fd, const Saved& s) {
  if (!s.inq.empty()) {
    if (Status e = SetSockInt(fd, IPPROTO_TCP, TCP_REPAIR_QUEUE, TCP_RECV_QUEUE)) return e;
    if (Status e = Refill(fd, s.inq.data(), s.inq.size())) return e;
  }
  // What was sent and not acknowledged goes in as sent (in repair mode); what was never sent is
  // written as a program writes it.
  size_t sent = s.outq.size() - s.unsent;
  if (sent > 0) {
    if (Status e = SetSockInt(fd, IPPROTO_TCP, TCP_REPAIR_QUEUE, TCP_SEND_QUEUE)) return e;
    if (Status e = Refill(fd, s.outq.data(), sent)) return e;
  }
  if (s.unsent == 0) return std::nullopt;
  if (Status e = Repair(fd, TCP_REPAIR_OFF)) return e;
  if (Status e = Refill(fd, s.outq.data() + sent, s.unsent)) return e;
  return Repair(fd, TCP_REPAIR_ON);
}

Status Restore(int fd, const Napi::Buffer<uint8_t>& local, const Napi::Buffer<uint8_t>& peer, const Saved& s) {
  if (Status e = Repair(fd, TCP_REPAIR_ON)) return e;
  if (bind(fd, reinterpret_cast<const sockaddr*>(local.Data()), static_cast<socklen_t>(local.Length())) < 0) return SysFailure("bind");
  if (Status e = SetQueueSeq(fd, TCP_RECV_QUEUE, s.inqSeq - static_cast<uint32_t>(s.inq.size()))) return e;
  if (Status e = SetQueueSeq(fd, TCP_SEND_QUEUE, s.outqSeq - static_cast<uint32_t>(s.outq.size()))) return e;
  if (connect(fd, reinterpret_cast<const sockaddr*>(peer.Data()), static_cast<socklen_t>(peer.Length())) < 0) return SysFailure("connect");
  if (Status e = SetOptions(fd, s)) return e;
  if (Status e = RefillQueues(fd, s)) return e;
  if (setsockopt(fd, IPPROTO_TCP, TCP_REPAIR_WINDOW, &s.window, sizeof s.window) < 0) return SysFailure("setsockopt TCP_REPAIR_WINDOW");
  return Repair(fd, TCP_REPAIR_OFF);
}

}  // namespace

Napi::Value TcpRepairSave(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  if (!ArgInt(info, 0, "fd", fd)) return env.Undefined();
  if (Status s = Repair(fd, TCP_REPAIR_ON)) return Throw(env, *s);
  Saved saved;
  Status read = Save(fd, saved);
  Status off = Repair(fd, TCP_REPAIR_OFF_NO_WP);
  if (read) return Throw(env, *read);
  if (off) return Throw(env, *off);
  return ToObject(env, saved);
}

Napi::Value TcpRepairRestore(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  Napi::Buffer<uint8_t> local, peer;
  if (!ArgInt(info, 0, "fd", fd) || !ArgBuffer(info, 1, "local", local) || !ArgBuffer(info, 2, "peer", peer)) return env.Undefined();
  if (info.Length() < 4 || !info[3].IsObject()) return ThrowType(env, "saved must be tcpRepairSave's object");
  if (Status s = Restore(fd, local, peer, FromObject(info[3].As<Napi::Object>()))) return Throw(env, *s);
  return env.Undefined();
}

Napi::Value TcpRepairOn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  if (!ArgInt(info, 0, "fd", fd)) return env.Undefined();
  if (Status s = Repair(fd, TCP_REPAIR_ON)) return Throw(env, *s);
  return env.Undefined();
}
