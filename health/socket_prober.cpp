// ICMP(v6) echo and UDP probes on kernel sockets (the socket policy is described in the header).
// Why ~680 lines: ICMP datagram, raw ICMP (with its kernel filters) and UDP channels share one
// pending-probe table, one receive path (including MSG_ERRQUEUE) and per-(fwmark, device)
// sockets; issue 22's footprint work (fewer timers, batching) will reshape them together.
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
#include <system_error>

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

std::vector<std::uint8_t> buildEchoRequest(std::uint16_t identifier, std::uint16_t sequence,
                                           std::uint64_t token) {
  std::vector<std::uint8_t> packet(8 + kEchoDataSize, 0);
  packet[0] = kTypeEchoRequest;
  packet[4] = static_cast<std::uint8_t>(identifier >> 8);
  packet[5] = static_cast<std::uint8_t>(identifier);
  packet[6] = static_cast<std::uint8_t>(sequence >> 8);
  packet[7] = static_cast<std::uint8_t>(sequence);
  for (int i = 0; i < 8; ++i) packet[8 + i] = static_cast<std::uint8_t>(token >> (56 - 8 * i));
  std::memcpy(&packet[16], "meshbrkr", 8);
  std::uint16_t sum = internetChecksum(packet);
  packet[2] = static_cast<std::uint8_t>(sum >> 8);
  packet[3] = static_cast<std::uint8_t>(sum);
  return packet;
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
  auto packet = buildEchoRequest(identifier, sequence, token);
  packet[0] = kType6EchoRequest;
  packet[2] = packet[3] = 0;  // the kernel computes it (it covers the IPv6 pseudo-header)
  return packet;
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

struct SocketProber::IcmpChannel {
  IcmpChannel(asio::io_context& io, int fd) : socket(io, fd) {}
  asio::posix::stream_descriptor socket;
  IcmpKey key;
  bool raw = false;
  bool v6 = false;
  bool retired = false;          // out of the map (its device went away); closes when idle
  std::uint16_t identifier = 0;  // raw: ours to match; datagram: the kernel replaces it
  std::uint16_t next_sequence = 0;
  std::unordered_map<std::uint16_t, std::uint64_t> pending;  // sequence -> probe id
};

struct SocketProber::UdpSocket {
  UdpSocket(asio::io_context& io, int fd) : socket(io, fd) {}
  asio::posix::stream_descriptor socket;
  Clock::time_point idle_since{};
};

struct SocketProber::Pending {
  explicit Pending(asio::io_context& io) : timer(io) {}
  std::uint64_t id = 0;
  Callback done;
  asio::steady_timer timer;
  Clock::time_point sent{};
  config::IpAddress address = config::Ipv4Address::fromUint(0);
  bool finished = false;
  // ICMP
  std::shared_ptr<IcmpChannel> channel;  // set once the request is sent
  std::uint16_t sequence = 0;
  std::uint64_t token = 0;
  // UDP
  std::unique_ptr<UdpSocket> udp;
  UdpKey udp_key{0, {}, config::Ipv4Address::fromUint(0), 0};
};

SocketProber::SocketProber(asio::io_context& io, IcmpSocketType icmp)
    : io_(io), icmp_type_(icmp), alive_(std::make_shared<bool>(true)) {
  std::random_device random;
  token_base_ = (std::uint64_t{random()} << 32) | random();
}

SocketProber::~SocketProber() {
  // Handlers already queued on the io_context check this before they touch anything.
  *alive_ = false;
  boost::system::error_code ignored;
  for (auto& [id, pending] : outstanding_) {
    pending->timer.cancel();
    if (pending->channel) pending->channel->socket.close(ignored);  // also retired channels
    if (pending->udp) pending->udp->socket.close(ignored);
  }
  for (auto& [key, channel] : icmp_) channel->socket.close(ignored);
}

void SocketProber::probe(const ProbeTarget& target, std::chrono::milliseconds timeout,
                         Callback done) {
  auto pending = std::make_shared<Pending>(io_);
  pending->id = next_id_++;
  pending->done = std::move(done);
  pending->address = target.address;
  outstanding_.emplace(pending->id, pending);
  bool sent;
  if (target.kind == ProbeKind::kIcmp) {
    sent = probeIcmp(pending, target);
  } else {
    sweepIdleUdp();
    sent = probeUdp(pending, target);
  }
  if (sent) startTimer(pending, timeout);
}

SocketProber::Footprint SocketProber::footprint() const {
  Footprint result;
  for (const auto& [key, channel] : icmp_) {
    ++result.icmp_sockets;
    if (channel->raw) ++result.raw_icmp_sockets;
  }
  for (const auto& [key, sockets] : idle_udp_) result.udp_sockets += sockets.size();
  for (const auto& [id, pending] : outstanding_) {
    if (pending->udp) ++result.udp_sockets;
  }
  result.outstanding = outstanding_.size();
  return result;
}

// --- ICMP -------------------------------------------------------------------------------------

std::shared_ptr<SocketProber::IcmpChannel> SocketProber::icmpChannel(const ProbeTarget& target,
                                                                     std::string* error) {
  const bool v6 = target.address.isV6();
  IcmpKey key{target.fwmark, target.device, v6};
  if (auto it = icmp_.find(key); it != icmp_.end()) return it->second;

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

bool SocketProber::probeIcmp(const std::shared_ptr<Pending>& pending, const ProbeTarget& target) {
  std::string error;
  auto channel = icmpChannel(target, &error);
  if (!channel) return failSoon(pending, error);
  if (channel->pending.size() >= 0xffff) return failSoon(pending, "too many outstanding probes");
  std::uint16_t sequence = channel->next_sequence++;
  while (channel->pending.contains(sequence)) sequence = channel->next_sequence++;
  pending->sequence = sequence;
  pending->token = token_base_ + pending->id;
  auto packet = channel->v6 ? buildEchoRequest6(channel->identifier, sequence, pending->token)
                            : buildEchoRequest(channel->identifier, sequence, pending->token);
  const auto to = socketAddress(pending->address, 0);
  int fd = channel->socket.native_handle();
  auto send = [&] {
    return ::sendto(fd, packet.data(), packet.size(), MSG_DONTWAIT | MSG_NOSIGNAL, to.get(),
                    to.length);
  };
  pending->sent = Clock::now();
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
  pending->channel = channel;
  channel->pending.emplace(sequence, pending->id);
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
  auto pendingFor = [this, &channel](std::uint16_t sequence) -> std::shared_ptr<Pending> {
    auto it = channel->pending.find(sequence);
    if (it == channel->pending.end()) return nullptr;
    auto found = outstanding_.find(it->second);
    return found == outstanding_.end() ? nullptr : found->second;
  };
  int reads = 0;
  bool drained = false;
  while (!drained && reads < kMaxReadsPerWakeup && channel->socket.is_open()) {
    int fd = channel->socket.native_handle();
    drained = true;
    // ICMP errors about our requests (ping sockets only: raw ones get them as packets).
    if (!channel->raw) {
      if (auto queued = readErrorQueue(fd)) {
        ++reads;
        drained = false;
        std::string verdict = describeQueuedError(queued->error);
        const std::uint8_t request = channel->v6 ? kType6EchoRequest : kTypeEchoRequest;
        if (!verdict.empty() && queued->size >= 8 && queued->data[0] == request) {
          auto pending = pendingFor(load16(&queued->data[6]));
          if (pending && pending->address == queued->destination) {
            finish(pending, {false, {}, verdict});
            if (!*alive) return;
          }
        }
        continue;
      }
    }
    std::array<std::uint8_t, 2048> data{};
    sockaddr_storage from{};
    socklen_t from_length = sizeof from;
    ssize_t n = ::recvfrom(fd, data.data(), data.size(), MSG_DONTWAIT,
                           reinterpret_cast<sockaddr*>(&from), &from_length);
    if (n < 0) {
      // EAGAIN: drained. Anything else is the socket's pending error (ping sockets report
      // an ICMP error once more this way): consumed, keep reading.
      if (errno != EAGAIN && errno != EWOULDBLOCK) drained = false;
      ++reads;
      continue;
    }
    ++reads;
    drained = false;
    const auto packet = std::span(data.data(), static_cast<std::size_t>(n));
    auto message = channel->v6 ? parseIcmp6(packet) : parseIcmp(packet, channel->raw);
    if (!message) continue;
    if (channel->raw && message->identifier != channel->identifier) continue;  // not ours
    auto pending = pendingFor(message->sequence);
    if (!pending) continue;  // late (timed out), duplicate, or another prober's
    if (message->kind == IcmpMessage::Kind::kEchoReply) {
      if (addressOf(from) != pending->address || message->token != pending->token) continue;
      auto rtt = std::chrono::ceil<std::chrono::microseconds>(Clock::now() - pending->sent);
      finish(pending, {true, rtt, ""});
    } else {
      std::optional<config::IpAddress> destination;
      if (message->destination6) destination = *message->destination6;
      if (message->destination) destination = config::Ipv4Address::fromUint(*message->destination);
      if (destination != pending->address) continue;
      finish(pending,
             {false,
              {},
              message->kind == IcmpMessage::Kind::kUnreachable ? "unreachable" : "time exceeded"});
    }
    if (!*alive) return;
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

// --- UDP --------------------------------------------------------------------------------------

std::unique_ptr<SocketProber::UdpSocket> SocketProber::udpSocket(const ProbeTarget& target,
                                                                 std::string* error) {
  UdpKey key{target.fwmark, target.device, target.address, target.port};
  if (auto it = idle_udp_.find(key); it != idle_udp_.end() && !it->second.empty()) {
    auto socket = std::move(it->second.back());
    it->second.pop_back();
    if (it->second.empty()) idle_udp_.erase(it);
    // Drop whatever arrived while it sat idle (a duplicate reply, an ICMP error), so it can
    // only be taken for the new probe's answer if it is one.
    int fd = socket->socket.native_handle();
    std::array<char, 512> sink{};
    for (int i = 0; i < kMaxReadsPerWakeup; ++i) {
      if (readErrorQueue(fd)) continue;
      ssize_t n = ::recv(fd, sink.data(), sink.size(), MSG_DONTWAIT);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
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

bool SocketProber::probeUdp(const std::shared_ptr<Pending>& pending, const ProbeTarget& target) {
  if (target.port == 0) return failSoon(pending, "UDP probe without a port");
  std::string error;
  auto socket = udpSocket(target, &error);
  if (!socket) return failSoon(pending, error);
  pending->udp_key = UdpKey{target.fwmark, target.device, target.address, target.port};
  pending->sent = Clock::now();
  ssize_t sent = ::send(socket->socket.native_handle(), target.payload.data(),
                        target.payload.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  if (sent < 0) return failSoon(pending, sendError("send", errno));  // socket closes here
  pending->udp = std::move(socket);
  readUdp(pending);
  return true;
}

void SocketProber::readUdp(const std::shared_ptr<Pending>& pending) {
  pending->udp->socket.async_wait(
      asio::posix::stream_descriptor::wait_read,
      [this, alive = alive_, weak = std::weak_ptr(pending)](const boost::system::error_code& ec) {
        if (ec || !*alive) return;
        auto locked = weak.lock();
        if (locked && !locked->finished && locked->udp) onUdpReadable(locked);
      });
}

void SocketProber::onUdpReadable(const std::shared_ptr<Pending>& pending) {
  int fd = pending->udp->socket.native_handle();
  while (auto queued = readErrorQueue(fd)) {
    std::string verdict = describeQueuedError(queued->error);
    if (!verdict.empty()) return finish(pending, {false, {}, verdict});
  }
  std::array<char, 2048> data{};
  ssize_t n = ::recv(fd, data.data(), data.size(), MSG_DONTWAIT);
  if (n >= 0) {
    auto rtt = std::chrono::ceil<std::chrono::microseconds>(Clock::now() - pending->sent);
    return finish(pending, {true, rtt, ""});
  }
  if (errno == EAGAIN || errno == EWOULDBLOCK) return readUdp(pending);
  finish(pending, {false, {}, sendError("receive", errno)});
}

void SocketProber::sweepIdleUdp() {
  if (idle_udp_.empty()) return;
  auto now = Clock::now();
  if (now - last_sweep_ < std::chrono::seconds(5)) return;
  last_sweep_ = now;
  for (auto it = idle_udp_.begin(); it != idle_udp_.end();) {
    std::erase_if(it->second, [now](const std::unique_ptr<UdpSocket>& socket) {
      return now - socket->idle_since > kIdleUdpLifetime;
    });
    it = it->second.empty() ? idle_udp_.erase(it) : std::next(it);
  }
}

// --- completion -------------------------------------------------------------------------------

void SocketProber::startTimer(const std::shared_ptr<Pending>& pending,
                              std::chrono::milliseconds timeout) {
  pending->timer.expires_after(timeout);
  pending->timer.async_wait(
      [this, alive = alive_, weak = std::weak_ptr(pending)](const boost::system::error_code& ec) {
        if (ec || !*alive) return;
        if (auto locked = weak.lock()) finish(locked, {false, {}, "timeout"});
      });
}

bool SocketProber::failSoon(const std::shared_ptr<Pending>& pending, std::string error) {
  // Never call back from inside probe(): the caller may hold locks or iterate its targets.
  asio::post(io_, [this, alive = alive_, weak = std::weak_ptr(pending), error = std::move(error)] {
    if (!*alive) return;
    if (auto locked = weak.lock()) finish(locked, {false, {}, error});
  });
  return false;
}

void SocketProber::finish(std::shared_ptr<Pending> pending, ProbeResult result) {
  if (pending->finished) return;
  pending->finished = true;
  pending->timer.cancel();
  outstanding_.erase(pending->id);
  boost::system::error_code ignored;
  if (auto channel = std::move(pending->channel)) {
    auto it = channel->pending.find(pending->sequence);
    if (it != channel->pending.end() && it->second == pending->id) channel->pending.erase(it);
    if (channel->retired && channel->pending.empty()) channel->socket.close(ignored);
  }
  if (auto socket = std::move(pending->udp)) {
    // Answered (or refused) sockets have no reply still on its way: keep a few for reuse.
    auto& idle = idle_udp_[pending->udp_key];
    if ((result.ok || result.error == "refused") && idle.size() < kIdleUdpPerPeer) {
      socket->socket.cancel(ignored);
      socket->idle_since = Clock::now();
      idle.push_back(std::move(socket));
    } else if (idle.empty()) {
      idle_udp_.erase(pending->udp_key);
    }
  }
  auto done = std::move(pending->done);
  if (done) done(result);
}

}  // namespace meshbroker::health
