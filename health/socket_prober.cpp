// ICMP(v6) echo and UDP probes on kernel sockets (the socket policy is described in the header).
// Why ~930 lines: ICMP datagram, raw ICMP (with its kernel filters) and UDP channels share one
// table of outstanding probes (reused slots), one timeout queue behind one timer, one receive
// path (recvmmsg, and MSG_ERRQUEUE) and per-(fwmark, device) sockets; splitting them would
// spread that shared state over several files.
#include "health/socket_prober.hpp"

// clang-format off
#include <netinet/in.h>  // before the linux/ headers, so their libc-compat guards see it
#include <linux/errqueue.h>
#include <linux/filter.h>  // SO_ATTACH_FILTER for raw sockets
#include <linux/icmp.h>  // ICMP_FILTER for raw sockets
// clang-format on
#include <arpa/inet.h>
#include <netinet/icmp6.h>  // ICMP6_FILTER for raw ICMPv6 sockets
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <string_view>
#include <system_error>
#include <tuple>
#include <unordered_map>

#include "io/unique_fd.hpp"

namespace meshbroker::health {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::uint8_t kTypeEchoReply = 0;
constexpr std::uint8_t kTypeUnreachable = 3;
constexpr std::uint8_t kTypeEchoRequest = 8;
constexpr std::uint8_t kTypeTimeExceeded = 11;
constexpr std::uint8_t kCodePortUnreachable = 3;
constexpr std::uint8_t kProtocolIcmp = 1;
constexpr std::uint8_t kType6Unreachable = 1;
constexpr std::uint8_t kType6TimeExceeded = 3;
constexpr std::uint8_t kType6EchoRequest = 128;
constexpr std::uint8_t kType6EchoReply = 129;
constexpr std::uint8_t kCode6PortUnreachable = 4;
constexpr std::uint8_t kNextHeaderIcmp6 = 58;
constexpr std::size_t kIpv6HeaderSize = 40;
constexpr int kMaxReadsPerWakeup = 64;  // then yield to other handlers, continue right after
constexpr std::size_t kIdleUdpPerPeer = 2;
constexpr auto kIdleUdpLifetime = std::chrono::seconds(30);

std::uint16_t load16(const std::uint8_t* p) {
  return static_cast<std::uint16_t>((p[0] << 8) | p[1]);
}
std::uint32_t load32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         std::uint32_t{p[3]};
}
std::uint64_t load64(const std::uint8_t* p) {
  return (std::uint64_t{load32(p)} << 32) | load32(p + 4);
}

std::string errnoText(int error) { return std::system_category().message(error); }

// A failed send/connect as a probe result: the route said no, the peer said no, or the text.
std::string sendError(const char* what, int error) {
  switch (error) {
    case EHOSTUNREACH:
    case ENETUNREACH:
    case EHOSTDOWN:
      return "unreachable";
    case ECONNREFUSED:
      return "refused";
    case ENOBUFS:  // reported because of IP_RECVERR; e.g. a veth whose peer is down
      return std::string(what) + ": " + errnoText(error) +
             " (dropped by the outgoing device: link down or queue full)";
    default:
      return std::string(what) + ": " + errnoText(error);
  }
}

std::string pingGroupRange() {
  std::ifstream in("/proc/sys/net/ipv4/ping_group_range");
  std::string low, high;
  if (!(in >> low >> high)) return "unknown";
  return low + " " + high;
}

// A socket address of either family, and its length.
struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;
  const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
};

SocketAddress socketAddress(const config::IpAddress& address, std::uint16_t port) {
  SocketAddress result;
  if (const auto* v6 = address.v6()) {
    auto* six = reinterpret_cast<sockaddr_in6*>(&result.storage);
    six->sin6_family = AF_INET6;
    six->sin6_port = htons(port);
    std::memcpy(&six->sin6_addr, v6->bytes().data(), v6->bytes().size());
    result.length = sizeof(sockaddr_in6);
  } else {
    auto* four = reinterpret_cast<sockaddr_in*>(&result.storage);
    four->sin_family = AF_INET;
    four->sin_port = htons(port);
    four->sin_addr.s_addr = htonl(address.v4()->value());
    result.length = sizeof(sockaddr_in);
  }
  return result;
}

// The address a socket call filled in (nullopt: neither family).
std::optional<config::IpAddress> addressOf(const sockaddr_storage& storage) {
  if (storage.ss_family == AF_INET6) {
    config::Ipv6Address::Bytes bytes{};
    std::memcpy(bytes.data(), &reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_addr,
                bytes.size());
    return config::IpAddress(config::Ipv6Address::fromBytes(bytes));
  }
  if (storage.ss_family == AF_INET) {
    return config::IpAddress(config::Ipv4Address::fromUint(
        ntohl(reinterpret_cast<const sockaddr_in*>(&storage)->sin_addr.s_addr)));
  }
  return std::nullopt;
}

// SO_MARK and SO_BINDTODEVICE, the two knobs that steer a probe through one gateway.
bool steer(int fd, const ProbeTarget& target, std::string* error) {
  if (target.fwmark != 0) {
    std::uint32_t mark = target.fwmark;
    if (::setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof mark) != 0) {
      int e = errno;
      std::ostringstream text;
      text << "SO_MARK 0x" << std::hex << target.fwmark << " on the probe socket: " << errnoText(e);
      if (e == EPERM) text << " (needs CAP_NET_ADMIN)";
      *error = text.str();
      return false;
    }
  }
  if (!target.device.empty()) {
    if (::setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, target.device.data(),
                     static_cast<socklen_t>(target.device.size())) != 0) {
      int e = errno;
      *error = "SO_BINDTODEVICE \"" + target.device + "\" on the probe socket: " + errnoText(e);
      if (e == EPERM) *error += " (needs CAP_NET_RAW)";
      return false;
    }
  }
  return true;
}

// A raw ICMP socket gets every echo reply in the namespace (every ping, every other prober):
// a socket filter drops the replies that do not carry our identifier in the kernel, before
// they take room in our receive buffer (ping does the same). Errors still come through.
void dropOthersReplies(int fd, std::uint16_t identifier) {
  std::array<sock_filter, 7> code = {{
      BPF_STMT(BPF_LDX | BPF_B | BPF_MSH, 0),                     // X = IP header length
      BPF_STMT(BPF_LD | BPF_B | BPF_IND, 0),                      // A = ICMP type
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, kTypeEchoReply, 0, 3),  // not a reply: keep
      BPF_STMT(BPF_LD | BPF_H | BPF_IND, 4),                      // A = identifier
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, identifier, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, 0),            // someone else's reply: drop
      BPF_STMT(BPF_RET | BPF_K, 0xffffffffU),  // ours, or an error to look at: keep
  }};
  sock_fprog program{static_cast<unsigned short>(code.size()), code.data()};
  ::setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &program, sizeof program);  // optimisation
}

// One message from the socket's error queue (IP_RECVERR, IPV6_RECVERR): the ICMP error, where
// the failed datagram was going, and as much of it as the kernel quoted.
struct QueuedError {
  sock_extended_err error{};
  std::optional<config::IpAddress> destination;
  std::size_t size = 0;  // quoted bytes in data
  std::array<std::uint8_t, 576> data{};
};

std::optional<QueuedError> readErrorQueue(int fd) {
  QueuedError result;
  sockaddr_storage from{};
  alignas(cmsghdr) std::array<char, 512> control{};
  iovec iov{result.data.data(), result.data.size()};
  msghdr message{};
  message.msg_name = &from;
  message.msg_namelen = sizeof from;
  message.msg_iov = &iov;
  message.msg_iovlen = 1;
  message.msg_control = control.data();
  message.msg_controllen = control.size();
  ssize_t n = ::recvmsg(fd, &message, MSG_ERRQUEUE | MSG_DONTWAIT);
  if (n < 0) return std::nullopt;
  bool found = false;
  for (cmsghdr* c = CMSG_FIRSTHDR(&message); c; c = CMSG_NXTHDR(&message, c)) {
    const bool recverr = (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_RECVERR) ||
                         (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_RECVERR);
    if (recverr && c->cmsg_len >= CMSG_LEN(sizeof(sock_extended_err))) {
      std::memcpy(&result.error, CMSG_DATA(c), sizeof result.error);
      found = true;
    }
  }
  if (!found) return QueuedError{};  // consumed, says nothing: origin stays SO_EE_ORIGIN_NONE
  result.destination = addressOf(from);
  result.size = std::min(static_cast<std::size_t>(n), result.data.size());
  return result;
}

// The probe result an error-queue entry stands for, or "" when it is no network verdict.
std::string describeQueuedError(const sock_extended_err& error) {
  if (error.ee_origin == SO_EE_ORIGIN_ICMP) {
    if (error.ee_type == kTypeUnreachable) {
      return error.ee_code == kCodePortUnreachable ? "refused" : "unreachable";
    }
    if (error.ee_type == kTypeTimeExceeded) return "time exceeded";
    return "icmp error type " + std::to_string(error.ee_type);
  }
  if (error.ee_origin == SO_EE_ORIGIN_ICMP6) {
    if (error.ee_type == kType6Unreachable) {
      return error.ee_code == kCode6PortUnreachable ? "refused" : "unreachable";
    }
    if (error.ee_type == kType6TimeExceeded) return "time exceeded";
    return "icmpv6 error type " + std::to_string(error.ee_type);
  }
  if (error.ee_origin == SO_EE_ORIGIN_LOCAL && error.ee_errno != 0) {
    return errnoText(static_cast<int>(error.ee_errno));
  }
  return "";
}

}  // namespace

std::string_view toString(IcmpSocketType type) {
  switch (type) {
    case IcmpSocketType::kAuto:
      return "auto";
    case IcmpSocketType::kDatagram:
      return "datagram";
    case IcmpSocketType::kRaw:
      return "raw";
  }
  return "unknown";
}

std::uint16_t internetChecksum(std::span<const std::uint8_t> bytes) {
  std::uint32_t sum = 0;
  std::size_t i = 0;
  for (; i + 1 < bytes.size(); i += 2) sum += load16(&bytes[i]);
  if (i < bytes.size()) sum += std::uint32_t{bytes[i]} << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<std::uint16_t>(~sum & 0xffff);
}

namespace {

using EchoRequest = std::array<std::uint8_t, 8 + kEchoDataSize>;

// An echo request of either family, written in place (a probe sends it from the stack).
// ICMPv6's checksum covers a pseudo-header only the kernel knows: it is left at zero for the
// kernel to fill in (raw and ping sockets both do).
void fillEchoRequest(EchoRequest& packet, bool v6, std::uint16_t identifier, std::uint16_t sequence,
                     std::uint64_t token) {
  packet.fill(0);
  packet[0] = v6 ? kType6EchoRequest : kTypeEchoRequest;
  packet[4] = static_cast<std::uint8_t>(identifier >> 8);
  packet[5] = static_cast<std::uint8_t>(identifier);
  packet[6] = static_cast<std::uint8_t>(sequence >> 8);
  packet[7] = static_cast<std::uint8_t>(sequence);
  for (int i = 0; i < 8; ++i) packet[8 + i] = static_cast<std::uint8_t>(token >> (56 - 8 * i));
  std::memcpy(&packet[16], "meshbrkr", 8);
  if (v6) return;
  std::uint16_t sum = internetChecksum(packet);
  packet[2] = static_cast<std::uint8_t>(sum >> 8);
  packet[3] = static_cast<std::uint8_t>(sum);
}

}  // namespace

std::vector<std::uint8_t> buildEchoRequest(std::uint16_t identifier, std::uint16_t sequence,
                                           std::uint64_t token) {
  EchoRequest packet;
  fillEchoRequest(packet, false, identifier, sequence, token);
  return {packet.begin(), packet.end()};
}

namespace {

// The fields of an echo reply, either family (its type, code and checksum checked already).
IcmpMessage echoReplyOf(std::span<const std::uint8_t> icmp) {
  IcmpMessage message;
  message.kind = IcmpMessage::Kind::kEchoReply;
  message.identifier = load16(&icmp[4]);
  message.sequence = load16(&icmp[6]);
  if (icmp.size() >= 16) message.token = load64(&icmp[8]);
  return message;
}

// An unreachable or time exceeded about our echo request, of which `request` is the start.
IcmpMessage errorAbout(bool unreachable, const std::uint8_t* request) {
  IcmpMessage message;
  message.kind = unreachable ? IcmpMessage::Kind::kUnreachable : IcmpMessage::Kind::kTimeExceeded;
  message.identifier = load16(request + 4);
  message.sequence = load16(request + 6);
  return message;
}

}  // namespace

std::vector<std::uint8_t> buildEchoRequest6(std::uint16_t identifier, std::uint16_t sequence,
                                            std::uint64_t token) {
  EchoRequest packet;
  fillEchoRequest(packet, true, identifier, sequence, token);
  return {packet.begin(), packet.end()};
}

std::optional<IcmpMessage> parseIcmp6(std::span<const std::uint8_t> packet) {
  if (packet.size() < 8) return std::nullopt;
  const std::uint8_t type = packet[0];
  if (type == kType6EchoReply) {
    if (packet[1] != 0) return std::nullopt;
    return echoReplyOf(packet);
  }
  if (type != kType6Unreachable && type != kType6TimeExceeded) return std::nullopt;
  // An error quotes our packet from its IPv6 header on: version 6, next header ICMPv6 (our
  // requests carry no extension headers), then the echo request.
  std::span<const std::uint8_t> quoted = packet.subspan(8);
  if (quoted.size() < kIpv6HeaderSize + 8 || (quoted[0] >> 4) != 6 ||
      quoted[6] != kNextHeaderIcmp6) {
    return std::nullopt;
  }
  const std::uint8_t* request = &quoted[kIpv6HeaderSize];
  if (request[0] != kType6EchoRequest) return std::nullopt;
  IcmpMessage message = errorAbout(type == kType6Unreachable, request);
  config::Ipv6Address::Bytes destination{};
  std::memcpy(destination.data(), &quoted[24], destination.size());
  message.destination6 = config::Ipv6Address::fromBytes(destination);
  return message;
}

std::optional<IcmpMessage> parseIcmp(std::span<const std::uint8_t> packet, bool with_ip_header) {
  // An IPv4 header carrying ICMP: its length, or 0 when it is not one.
  auto ipHeader = [](std::span<const std::uint8_t> bytes) -> std::size_t {
    if (bytes.size() < 20 || (bytes[0] >> 4) != 4) return 0;
    std::size_t length = std::size_t{bytes[0] & 0x0fu} * 4;
    if (length < 20 || bytes.size() < length || bytes[9] != kProtocolIcmp) return 0;
    return length;
  };
  std::span<const std::uint8_t> icmp = packet;
  if (with_ip_header) {
    std::size_t length = ipHeader(packet);
    if (length == 0) return std::nullopt;
    icmp = packet.subspan(length);
  }
  if (icmp.size() < 8) return std::nullopt;
  std::uint8_t type = icmp[0];
  if (type == kTypeEchoReply) {
    if (icmp[1] != 0 || internetChecksum(icmp) != 0) return std::nullopt;
    return echoReplyOf(icmp);
  }
  if (type != kTypeUnreachable && type != kTypeTimeExceeded) return std::nullopt;
  // An error quotes the IPv4 header of our request and at least its first 8 bytes.
  std::span<const std::uint8_t> quoted = icmp.subspan(8);
  std::size_t length = ipHeader(quoted);
  if (length == 0 || quoted.size() < length + 8) return std::nullopt;
  const std::uint8_t* request = &quoted[length];
  if (request[0] != kTypeEchoRequest) return std::nullopt;
  IcmpMessage message = errorAbout(type == kTypeUnreachable, request);
  message.destination = load32(&quoted[16]);
  return message;
}

// --- sockets ----------------------------------------------------------------------------------

namespace {

constexpr int kSlotBits = 24;  // a probe id's low bits name its slot, the rest count probes
constexpr std::uint64_t kSlotMask = (std::uint64_t{1} << kSlotBits) - 1;

}  // namespace

struct SocketProber::IcmpChannel {
  using PendingMap = std::unordered_map<std::uint16_t, ProbeId>;  // sequence -> probe id

  IcmpChannel(asio::io_context& io, int fd) : socket(io, fd) {}
  // A finished probe's map node is kept for the next one: no allocation per probe.
  void add(std::uint16_t sequence, ProbeId id) {
    if (spare.empty()) {
      pending.emplace(sequence, id);
      return;
    }
    auto node = std::move(spare.back());
    spare.pop_back();
    node.key() = sequence;
    node.mapped() = id;
    pending.insert(std::move(node));
  }
  void release(PendingMap::iterator it) { spare.push_back(pending.extract(it)); }

  asio::posix::stream_descriptor socket;
  IcmpKey key;
  bool raw = false;
  bool v6 = false;
  bool retired = false;          // out of the map (its device went away); closes when idle
  std::uint16_t identifier = 0;  // raw: ours to match; datagram: the kernel replaces it
  std::uint16_t next_sequence = 0;
  PendingMap pending;
  std::vector<PendingMap::node_type> spare;
};

struct SocketProber::UdpSocket {
  UdpSocket(asio::io_context& io, int fd) : socket(io, fd) {}
  asio::posix::stream_descriptor socket;
  Clock::time_point idle_since{};
};

// One outstanding probe, in a slot that the next probe reuses once this one has ended.
struct SocketProber::Pending {
  ProbeId id = 0;  // 0: the slot is free
  Callback done;
  Clock::time_point sent{};
  config::IpAddress address = config::Ipv4Address::fromUint(0);
  // ICMP
  std::shared_ptr<IcmpChannel> channel;  // set once the request is sent
  std::uint16_t sequence = 0;
  std::uint64_t token = 0;
  // UDP
  std::unique_ptr<UdpSocket> udp;
  UdpKey udp_key{0, {}, config::Ipv4Address::fromUint(0), 0};
};

// Buffers for reading an ICMP socket's datagrams with one recvmmsg. 1024 bytes hold whatever
// can concern our probes: our echo replies are 24 bytes of ICMP, an ICMP error is at most 576
// bytes (IPv4) or quotes our 64-byte IPv6 request; longer datagrams (someone else's) come in
// truncated and are not ours. `data` is left uninitialised: only what the kernel writes
// becomes resident.
struct SocketProber::ReceiveBatch {
  static constexpr unsigned kMessages = 16;
  static constexpr std::size_t kSize = 1024;
  ReceiveBatch() {
    for (unsigned i = 0; i < kMessages; ++i) {
      iov[i] = {data[i].data(), kSize};
      headers[i] = {};
      headers[i].msg_hdr.msg_name = &from[i];
      headers[i].msg_hdr.msg_iov = &iov[i];
      headers[i].msg_hdr.msg_iovlen = 1;
    }
  }
  std::array<std::array<std::uint8_t, kSize>, kMessages> data;
  std::array<sockaddr_storage, kMessages> from;
  std::array<iovec, kMessages> iov;
  std::array<mmsghdr, kMessages> headers;
};

SocketProber::SocketProber(asio::io_context& io, IcmpSocketType icmp)
    : io_(io), icmp_type_(icmp), alive_(std::make_shared<bool>(true)), timeout_timer_(io) {
  std::random_device random;
  token_base_ = (std::uint64_t{random()} << 32) | random();
}

SocketProber::~SocketProber() {
  // Handlers already queued on the io_context check this before they touch anything.
  *alive_ = false;
  boost::system::error_code ignored;
  for (const auto& pending : slots_) {
    if (pending->id == 0) continue;
    if (pending->channel) pending->channel->socket.close(ignored);  // also retired channels
    if (pending->udp) pending->udp->socket.close(ignored);
  }
  for (auto& [key, channel] : icmp_) channel->socket.close(ignored);
}

void SocketProber::probe(const ProbeTarget& target, std::chrono::milliseconds timeout,
                         Callback done) {
  std::uint32_t slot = 0;
  if (!free_slots_.empty()) {
    slot = free_slots_.back();
    free_slots_.pop_back();
  } else if (slots_.size() <= kSlotMask) {
    slot = static_cast<std::uint32_t>(slots_.size());
    slots_.push_back(std::make_unique<Pending>());
  } else {
    asio::post(io_, [alive = alive_, done = std::move(done)] {
      if (*alive && done) done({false, {}, "too many outstanding probes"});
    });
    return;
  }
  Pending& pending = *slots_[slot];
  pending.id = (next_serial_++ << kSlotBits) | slot;
  pending.done = std::move(done);
  pending.address = target.address;
  ++outstanding_;
  bool sent;
  if (target.kind == ProbeKind::kIcmp) {
    sent = probeIcmp(pending, target);
  } else {
    sweepIdleUdp();
    sent = probeUdp(pending, target);
  }
  if (sent) addDeadline(pending.id, pending.sent + timeout);
}

SocketProber::Pending* SocketProber::find(ProbeId id) {
  const auto slot = static_cast<std::size_t>(id & kSlotMask);
  if (id == 0 || slot >= slots_.size()) return nullptr;
  Pending* pending = slots_[slot].get();
  return pending->id == id ? pending : nullptr;
}

SocketProber::Footprint SocketProber::footprint() const {
  Footprint result;
  for (const auto& [key, channel] : icmp_) {
    ++result.icmp_sockets;
    if (channel->raw) ++result.raw_icmp_sockets;
  }
  result.udp_sockets = idle_udp_count_ + udp_in_use_;
  result.outstanding = outstanding_;
  return result;
}

// --- ICMP -------------------------------------------------------------------------------------

std::shared_ptr<SocketProber::IcmpChannel> SocketProber::icmpChannel(const ProbeTarget& target,
                                                                     std::string* error) {
  const bool v6 = target.address.isV6();
  // Looked up without copying the device name: this runs for every probe.
  if (auto it = icmp_.find(
          std::tuple<std::uint32_t, std::string_view, bool>(target.fwmark, target.device, v6));
      it != icmp_.end()) {
    return it->second;
  }
  IcmpKey key{target.fwmark, target.device, v6};

  const int family = v6 ? AF_INET6 : AF_INET;
  const int protocol = v6 ? int{IPPROTO_ICMPV6} : int{IPPROTO_ICMP};
  io::UniqueFd fd;
  bool raw = false;
  if (icmp_type_ == IcmpSocketType::kDatagram ||
      (icmp_type_ == IcmpSocketType::kAuto && !datagram_denied_)) {
    fd.reset(::socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol));
    if (!fd) {
      int e = errno;
      bool denied = e == EACCES || e == EPERM || e == EPROTONOSUPPORT;
      if (icmp_type_ == IcmpSocketType::kDatagram || !denied) {
        *error = std::string(v6 ? "ICMPv6" : "ICMP") + " ping socket: " + errnoText(e) +
                 (denied ? " (net.ipv4.ping_group_range is \"" + pingGroupRange() +
                               "\" and does not cover our groups)"
                         : std::string());
        return nullptr;
      }
      datagram_denied_ = true;
    }
  }
  if (!fd) {
    fd.reset(::socket(family, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol));
    if (!fd) {
      int e = errno;
      *error = std::string(v6 ? "ICMPv6" : "ICMP") + " raw socket: " + errnoText(e) +
               " (needs CAP_NET_RAW";
      if (icmp_type_ == IcmpSocketType::kAuto) {
        *error += "; no unprivileged ping socket either: net.ipv4.ping_group_range is \"" +
                  pingGroupRange() + "\"";
      }
      *error += ")";
      return nullptr;
    }
    raw = true;
  }

  int on = 1;
  if (raw && v6) {
    // The same for ICMPv6 (and its neighbour discovery traffic): replies and errors only.
    icmp6_filter filter{};
    ICMP6_FILTER_SETBLOCKALL(&filter);
    ICMP6_FILTER_SETPASS(kType6EchoReply, &filter);
    ICMP6_FILTER_SETPASS(kType6Unreachable, &filter);
    ICMP6_FILTER_SETPASS(kType6TimeExceeded, &filter);
    ::setsockopt(fd.get(), IPPROTO_ICMPV6, ICMP6_FILTER, &filter, sizeof filter);
  } else if (raw) {
    // Raw ICMP sockets see every ICMP packet in the namespace: only replies and errors pass.
    icmp_filter filter{};
    filter.data = ~((1U << kTypeEchoReply) | (1U << kTypeUnreachable) | (1U << kTypeTimeExceeded));
    ::setsockopt(fd.get(), SOL_RAW, ICMP_FILTER, &filter, sizeof filter);  // an optimisation only
  } else if (::setsockopt(fd.get(), v6 ? IPPROTO_IPV6 : IPPROTO_IP, v6 ? IPV6_RECVERR : IP_RECVERR,
                          &on, sizeof on) != 0) {
    int e = errno;
    *error =
        std::string(v6 ? "IPV6_RECVERR" : "IP_RECVERR") + " on the ICMP socket: " + errnoText(e);
    return nullptr;
  }
  if (!steer(fd.get(), target, error)) {
    return nullptr;  // not cached: the device may appear, the capability may be granted
  }

  std::random_device random;
  auto identifier = static_cast<std::uint16_t>(random());
  if (raw && !v6) dropOthersReplies(fd.get(), identifier);
  if (!batch_) batch_ = std::make_unique<ReceiveBatch>();
  auto channel = std::make_shared<IcmpChannel>(io_, fd.release());
  channel->key = key;
  channel->raw = raw;
  channel->v6 = v6;
  channel->identifier = identifier;
  channel->next_sequence = static_cast<std::uint16_t>(random());
  icmp_.emplace(key, channel);
  readIcmp(channel);
  return channel;
}

bool SocketProber::probeIcmp(Pending& pending, const ProbeTarget& target) {
  std::string error;
  auto channel = icmpChannel(target, &error);
  if (!channel) return failSoon(pending, error);
  if (channel->pending.size() >= 0xffff) return failSoon(pending, "too many outstanding probes");
  std::uint16_t sequence = channel->next_sequence++;
  while (channel->pending.contains(sequence)) sequence = channel->next_sequence++;
  pending.sequence = sequence;
  pending.token = token_base_ + pending.id;
  EchoRequest packet;
  fillEchoRequest(packet, channel->v6, channel->identifier, sequence, pending.token);
  const auto to = socketAddress(pending.address, 0);
  int fd = channel->socket.native_handle();
  auto send = [&] {
    return ::sendto(fd, packet.data(), packet.size(), MSG_DONTWAIT | MSG_NOSIGNAL, to.get(),
                    to.length);
  };
  pending.sent = Clock::now();
  ssize_t sent = send();
  // A ping socket with IP_RECVERR keeps the last ICMP error (for some other probe) pending,
  // and the next send reports it once: that error is not this probe's, so send again.
  if (sent < 0 && errno != EAGAIN && errno != ENODEV && errno != ENXIO) sent = send();
  if (sent < 0) {
    int e = errno;
    if (e == ENODEV || e == ENXIO) {
      // The bound device is gone (a tun device recreated gets a new index): the next probe
      // opens a fresh socket; this one closes when its outstanding probes are done.
      channel->retired = true;
      icmp_.erase(channel->key);
      if (channel->pending.empty()) {
        boost::system::error_code ignored;
        channel->socket.close(ignored);
      }
    }
    return failSoon(pending, sendError("send", e));
  }
  channel->add(sequence, pending.id);
  pending.channel = std::move(channel);
  return true;
}

void SocketProber::readIcmp(const std::shared_ptr<IcmpChannel>& channel) {
  channel->socket.async_wait(
      asio::posix::stream_descriptor::wait_read,
      [this, alive = alive_, weak = std::weak_ptr(channel)](const boost::system::error_code& ec) {
        if (ec || !*alive) return;
        if (auto locked = weak.lock()) onIcmpReadable(locked);
      });
}

void SocketProber::onIcmpReadable(const std::shared_ptr<IcmpChannel>& channel) {
  auto alive = alive_;  // a callback may destroy *this: check after each one
  ReceiveBatch& batch = *batch_;
  int budget = kMaxReadsPerWakeup;
  bool drained = false;
  bool received = false;
  while (!drained && budget > 0 && channel->socket.is_open()) {
    const unsigned want = std::min(ReceiveBatch::kMessages, static_cast<unsigned>(budget));
    for (unsigned i = 0; i < want; ++i) {
      batch.headers[i].msg_hdr.msg_namelen = sizeof(sockaddr_storage);
      batch.headers[i].msg_hdr.msg_flags = 0;
    }
    const int n = ::recvmmsg(channel->socket.native_handle(), batch.headers.data(), want,
                             MSG_DONTWAIT, nullptr);
    if (n < 0) {
      const bool again = errno == EAGAIN || errno == EWOULDBLOCK;
      --budget;
      // A ping socket's ICMP errors about our requests wait on its error queue (raw sockets
      // get them as packets). Each also sets the socket's pending error, which the next read
      // reports once, before any datagram; and while the queue holds one the socket polls
      // with EPOLLERR, so a wake-up that finds no datagram is looked at there too. Only then
      // is the queue worth a system call.
      if (!channel->raw && (!again || !received) && !drainIcmpErrors(*channel, &budget)) return;
      drained = again;
      continue;
    }
    budget -= n;
    received = received || n > 0;
    // Fewer than asked for: the queue was empty when the kernel looked. A datagram that
    // arrives after that wakes the socket again.
    drained = static_cast<unsigned>(n) < want;
    for (int i = 0; i < n && channel->socket.is_open(); ++i) {
      const mmsghdr& header = batch.headers[i];
      const auto size = std::min<std::size_t>(header.msg_len, ReceiveBatch::kSize);
      std::optional<config::IpAddress> from;
      if (header.msg_hdr.msg_namelen > 0) from = addressOf(batch.from[i]);
      onIcmpPacket(*channel, std::span(batch.data[i].data(), size), from);
      if (!*alive) return;
    }
  }
  if (!channel->socket.is_open()) return;
  if (drained) {
    readIcmp(channel);
  } else {
    // More is queued: let other handlers run, then carry on (edge-triggered: keep draining).
    asio::post(io_, [this, alive, weak = std::weak_ptr(channel)] {
      if (!*alive) return;
      if (auto locked = weak.lock()) onIcmpReadable(locked);
    });
  }
}

bool SocketProber::drainIcmpErrors(IcmpChannel& channel, int* budget) {
  auto alive = alive_;
  const std::uint8_t request = channel.v6 ? kType6EchoRequest : kTypeEchoRequest;
  while (*budget > 0 && channel.socket.is_open()) {
    auto queued = readErrorQueue(channel.socket.native_handle());
    if (!queued) return true;
    --*budget;
    std::string verdict = describeQueuedError(queued->error);
    if (verdict.empty() || queued->size < 8 || queued->data[0] != request) continue;
    auto it = channel.pending.find(load16(&queued->data[6]));
    Pending* pending = it == channel.pending.end() ? nullptr : find(it->second);
    if (pending && pending->address == queued->destination) {
      finish(*pending, {false, {}, verdict});
      if (!*alive) return false;
    }
  }
  return true;
}

void SocketProber::onIcmpPacket(IcmpChannel& channel, std::span<const std::uint8_t> packet,
                                const std::optional<config::IpAddress>& from) {
  auto message = channel.v6 ? parseIcmp6(packet) : parseIcmp(packet, channel.raw);
  if (!message) return;
  if (channel.raw && message->identifier != channel.identifier) return;  // not ours
  auto it = channel.pending.find(message->sequence);
  if (it == channel.pending.end()) return;  // late (timed out), duplicate, or another prober's
  Pending* pending = find(it->second);
  if (!pending) return;
  if (message->kind == IcmpMessage::Kind::kEchoReply) {
    if (from != pending->address || message->token != pending->token) return;
    auto rtt = std::chrono::ceil<std::chrono::microseconds>(Clock::now() - pending->sent);
    finish(*pending, {true, rtt, ""});
    return;
  }
  std::optional<config::IpAddress> destination;
  if (message->destination6) destination = *message->destination6;
  if (message->destination) destination = config::Ipv4Address::fromUint(*message->destination);
  if (destination != pending->address) return;
  finish(*pending,
         {false,
          {},
          message->kind == IcmpMessage::Kind::kUnreachable ? "unreachable" : "time exceeded"});
}

// --- UDP --------------------------------------------------------------------------------------

std::unique_ptr<SocketProber::UdpSocket> SocketProber::udpSocket(const ProbeTarget& target,
                                                                 const UdpKey& key,
                                                                 std::string* error) {
  if (auto it = idle_udp_.find(key); it != idle_udp_.end() && !it->second.empty()) {
    auto socket = std::move(it->second.back());
    it->second.pop_back();
    --idle_udp_count_;
    if (it->second.empty()) idle_udp_.erase(it);
    // Drop whatever arrived while it sat idle (a duplicate reply, an ICMP error), so it can
    // only be taken for the new probe's answer if it is one. A queued ICMP error is also the
    // socket's pending error, which recv reports before any datagram: only then is the error
    // queue worth a look.
    int fd = socket->socket.native_handle();
    std::array<char, 512> sink;
    for (int i = 0; i < kMaxReadsPerWakeup; ++i) {
      ssize_t n = ::recv(fd, sink.data(), sink.size(), MSG_DONTWAIT);
      if (n >= 0) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      while (i < kMaxReadsPerWakeup && readErrorQueue(fd)) ++i;
    }
    return socket;
  }
  const bool v6 = target.address.isV6();
  io::UniqueFd fd(::socket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) {
    *error = "UDP socket: " + errnoText(errno);
    return nullptr;
  }
  int on = 1;
  // Every ICMP error (not only port unreachable) reaches a connected socket with IP_RECVERR.
  ::setsockopt(fd.get(), v6 ? IPPROTO_IPV6 : IPPROTO_IP, v6 ? IPV6_RECVERR : IP_RECVERR, &on,
               sizeof on);
  if (!steer(fd.get(), target, error)) return nullptr;
  const auto to = socketAddress(target.address, target.port);
  if (::connect(fd.get(), to.get(), to.length) != 0) {
    *error = sendError("connect", errno);
    return nullptr;
  }
  return std::make_unique<UdpSocket>(io_, fd.release());
}

bool SocketProber::probeUdp(Pending& pending, const ProbeTarget& target) {
  if (target.port == 0) return failSoon(pending, "UDP probe without a port");
  pending.udp_key = UdpKey{target.fwmark, target.device, target.address, target.port};
  std::string error;
  auto socket = udpSocket(target, pending.udp_key, &error);
  if (!socket) return failSoon(pending, error);
  pending.sent = Clock::now();
  ssize_t sent = ::send(socket->socket.native_handle(), target.payload.data(),
                        target.payload.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  if (sent < 0) return failSoon(pending, sendError("send", errno));  // socket closes here
  pending.udp = std::move(socket);
  ++udp_in_use_;
  readUdp(pending.id, *pending.udp);
  return true;
}

void SocketProber::readUdp(ProbeId id, UdpSocket& socket) {
  socket.socket.async_wait(asio::posix::stream_descriptor::wait_read,
                           [this, alive = alive_, id](const boost::system::error_code& ec) {
                             if (ec || !*alive) return;
                             Pending* pending = find(id);
                             if (pending && pending->udp) onUdpReadable(*pending);
                           });
}

void SocketProber::onUdpReadable(Pending& pending) {
  int fd = pending.udp->socket.native_handle();
  std::array<char, 2048> data;
  ssize_t n = ::recv(fd, data.data(), data.size(), MSG_DONTWAIT);
  if (n >= 0) {
    auto rtt = std::chrono::ceil<std::chrono::microseconds>(Clock::now() - pending.sent);
    return finish(pending, {true, rtt, ""});
  }
  const int e = errno;
  // recv reports a queued ICMP error (the socket's pending error) before any datagram; the
  // queue says what it was (port unreachable: "refused"). A wake-up with nothing to read
  // looks there too.
  while (auto queued = readErrorQueue(fd)) {
    std::string verdict = describeQueuedError(queued->error);
    if (!verdict.empty()) return finish(pending, {false, {}, verdict});
  }
  if (e == EAGAIN || e == EWOULDBLOCK) return readUdp(pending.id, *pending.udp);
  finish(pending, {false, {}, sendError("receive", e)});
}

void SocketProber::sweepIdleUdp() {
  if (idle_udp_.empty()) return;
  auto now = Clock::now();
  if (now - last_sweep_ < std::chrono::seconds(5)) return;
  last_sweep_ = now;
  for (auto it = idle_udp_.begin(); it != idle_udp_.end();) {
    idle_udp_count_ -= std::erase_if(it->second, [now](const std::unique_ptr<UdpSocket>& socket) {
      return now - socket->idle_since > kIdleUdpLifetime;
    });
    it = it->second.empty() ? idle_udp_.erase(it) : std::next(it);
  }
}

// --- completion -------------------------------------------------------------------------------

void SocketProber::addDeadline(ProbeId id, Clock::time_point deadline) {
  // Answered probes leave the queue only when they reach its front: if they pile up (long
  // timeouts, quick answers), drop them now.
  if (deadlines_.size() > 2 * outstanding_ + 64) {
    deadlines_.compact([this](ProbeId entry) { return find(entry) != nullptr; });
  }
  deadlines_.push(id, deadline);
  if (!timer_at_ || deadline < *timer_at_) armTimeouts(deadline);
}

void SocketProber::armTimeouts(Clock::time_point at) {
  timer_at_ = at;
  const std::uint64_t generation = ++timer_generation_;
  timeout_timer_.expires_at(at);  // cancels the wait this one replaces
  timeout_timer_.async_wait(
      [this, alive = alive_, generation](const boost::system::error_code& ec) {
        if (ec || !*alive || generation != timer_generation_) return;
        onTimeouts();
      });
}

void SocketProber::onTimeouts() {
  timer_at_.reset();
  auto alive = alive_;  // a callback may destroy *this
  const auto now = Clock::now();
  while (auto id = deadlines_.popDue(now)) {
    Pending* pending = find(*id);
    if (!pending) continue;  // answered in time
    finish(*pending, {false, {}, "timeout"});
    if (!*alive) return;
  }
  auto next = deadlines_.earliest([this](ProbeId id) { return find(id) != nullptr; });
  if (next && (!timer_at_ || *next < *timer_at_)) armTimeouts(*next);
}

bool SocketProber::failSoon(Pending& pending, std::string error) {
  // Never call back from inside probe(): the caller may hold locks or iterate its targets.
  asio::post(io_, [this, alive = alive_, id = pending.id, error = std::move(error)] {
    if (!*alive) return;
    if (Pending* found = find(id)) finish(*found, {false, {}, error});
  });
  return false;
}

void SocketProber::finish(Pending& pending, ProbeResult result) {
  const ProbeId id = pending.id;
  pending.id = 0;
  --outstanding_;
  boost::system::error_code ignored;
  if (auto channel = std::move(pending.channel)) {
    auto it = channel->pending.find(pending.sequence);
    if (it != channel->pending.end() && it->second == id) channel->release(it);
    if (channel->retired && channel->pending.empty()) channel->socket.close(ignored);
  }
  if (auto socket = std::move(pending.udp)) {
    --udp_in_use_;
    // Answered (or refused) sockets have no reply still on its way: keep a few for reuse.
    auto& idle = idle_udp_[pending.udp_key];
    if ((result.ok || result.error == "refused") && idle.size() < kIdleUdpPerPeer) {
      socket->socket.cancel(ignored);
      socket->idle_since = Clock::now();
      idle.push_back(std::move(socket));
      ++idle_udp_count_;
    } else if (idle.empty()) {
      idle_udp_.erase(pending.udp_key);
    }
  }
  Callback done = std::move(pending.done);
  pending.done = nullptr;
  free_slots_.push_back(static_cast<std::uint32_t>(id & kSlotMask));
  if (outstanding_ == 0) deadlines_.clear();  // every entry left is an answered probe's
  if (done) done(result);  // last: it may probe again (into this slot) or destroy the prober
}

}  // namespace meshbroker::health
