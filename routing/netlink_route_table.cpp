// NetlinkRouteTable: dumps validated message by message at the edge; a change sent as one
// request and its ack, or many changes in batches (one sendmsg() each, only failures
// answered); errors carrying the kernel's own extended-ack text.
// Why ~900 lines: it is the whole libnl boundary for routes (routes, multipath, rules, foreign
// keys, the kernel's matching rules, batches); with netlink_neighbours.cpp the routing room's
// only libnl files, which keeps libnl's types out of every other file
// (tests/dependency_check.sh).
#include "routing/netlink_route_table.hpp"

#include <arpa/inet.h>
#include <linux/fib_rules.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netlink/attr.h>
#include <netlink/errno.h>
#include <netlink/handlers.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/route/nexthop.h>
#include <netlink/route/route.h>
#include <netlink/route/rtnl.h>
#include <netlink/route/rule.h>
#include <netlink/socket.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>
#include <functional>
#include <optional>
#include <string>
#include <tuple>
#include <unordered_map>
#include <utility>

namespace meshbroker::routing {
namespace {

using Route = io::NlPtr<rtnl_route, rtnl_route_put>;
using Rule = io::NlPtr<rtnl_rule, rtnl_rule_put>;
using Addr = io::NlPtr<nl_addr, nl_addr_put>;
using Msg = io::NlPtr<nl_msg, nlmsg_free>;
using Callbacks = io::NlPtr<nl_cb, nl_cb_put>;

// A dump that a concurrent change interrupts (NLM_F_DUMP_INTR) is started again, this often.
constexpr int kDumpAttempts = 5;
constexpr std::uint32_t kExactMark = 0xffffffffu;
constexpr std::uint32_t kUnset = 0xffffffffu;  // a rule's suppress_* attributes when not set
constexpr int kMaxWeight = 256;                // rtnh_hops is a byte holding weight - 1

// --- addresses ------------------------------------------------------------------------------

Addr toNlAddr(config::Ipv4Address address, int prefix_length) {
  std::uint32_t wire = htonl(address.value());
  Addr addr(nl_addr_build(AF_INET, &wire, sizeof wire));
  if (!addr) throw RouteTableError("out of memory building a netlink address");
  nl_addr_set_prefixlen(addr.get(), prefix_length);
  return addr;
}

std::optional<config::Ipv4Address> ipv4From(const void* data, unsigned int size) {
  if (data == nullptr || size != 4) return std::nullopt;
  std::uint32_t wire = 0;
  std::memcpy(&wire, data, sizeof wire);
  return config::Ipv4Address::fromUint(ntohl(wire));
}

std::optional<config::Ipv4Address> ipv4From(nl_addr* addr) {
  if (addr == nullptr || nl_addr_get_family(addr) != AF_INET) return std::nullopt;
  return ipv4From(nl_addr_get_binary_addr(addr), nl_addr_get_len(addr));
}

std::optional<config::Cidr> cidrOf(config::Ipv4Address network, int length) {
  // Cidr::parse rejects host bits, so a reply with a misaligned prefix is skipped, not kept.
  return config::Cidr::parse(network.str() + "/" + std::to_string(length), nullptr);
}

// --- either family (routes, issue 21) -----------------------------------------------------

// IPv6 keeps no metric 0: the kernel stores a route added with 0 as 1024 (IP6_RT_PRIO_USER).
// Routes are sent and read with that mapping, so metric 0 means the same in both families.
constexpr std::uint32_t kIpv6DefaultMetric = 1024;

Addr toNlAddr(const config::IpAddress& address, int prefix_length) {
  if (const auto* v4 = address.v4()) return toNlAddr(*v4, prefix_length);
  const auto& bytes = address.v6()->bytes();
  Addr addr(nl_addr_build(AF_INET6, bytes.data(), bytes.size()));
  if (!addr) throw RouteTableError("out of memory building a netlink address");
  nl_addr_set_prefixlen(addr.get(), prefix_length);
  return addr;
}

std::optional<config::IpAddress> ipFrom(nl_addr* addr) {
  if (addr == nullptr) return std::nullopt;
  if (nl_addr_get_family(addr) == AF_INET) {
    if (auto v4 = ipv4From(addr)) return config::IpAddress(*v4);
    return std::nullopt;
  }
  if (nl_addr_get_family(addr) != AF_INET6 || nl_addr_get_len(addr) != 16) return std::nullopt;
  config::Ipv6Address::Bytes bytes{};
  std::memcpy(bytes.data(), nl_addr_get_binary_addr(addr), bytes.size());
  return config::IpAddress(config::Ipv6Address::fromBytes(bytes));
}

bool unspecified(const config::IpAddress& address) {
  if (const auto* v4 = address.v4()) return v4->value() == 0;
  const auto& bytes = address.v6()->bytes();
  return std::all_of(bytes.begin(), bytes.end(), [](std::uint8_t b) { return b == 0; });
}

// ifindex -> name, asked once per index during one dump.
class InterfaceNames {
 public:
  const std::string& nameOf(int index) {
    auto [it, inserted] = names_.try_emplace(index);
    if (inserted && index > 0) {
      char buffer[IF_NAMESIZE] = {};
      if (if_indextoname(static_cast<unsigned>(index), buffer) != nullptr) it->second = buffer;
    }
    return it->second;
  }

 private:
  std::unordered_map<int, std::string> names_;
};

// Throws "cannot ACTION DESCRIPTION: WHY"; the description is only built when something failed.
template <class Thing>
struct Failure {
  const char* action;  // "replace route"
  const Thing& thing;
  [[noreturn]] void operator()(const std::string& why) const {
    throw RouteTableError(std::string("cannot ") + action + " " + describe(thing) + ": " + why);
  }
};
using RouteFailure = Failure<KernelRoute>;
using RuleFailure = Failure<PolicyRule>;

// if_nametoindex() opens and closes a socket per call; the same ioctl on the netlink socket we
// already have costs one system call (the kernel answers it for any socket family).
int interfaceIndex(nl_sock* sock, const std::string& name) {
  ifreq request{};
  if (name.empty() || name.size() >= sizeof request.ifr_name) return 0;
  std::memcpy(request.ifr_name, name.data(), name.size());
  if (ioctl(nl_socket_get_fd(sock), SIOCGIFINDEX, &request) != 0) return 0;
  return request.ifr_ifindex;
}

// name -> ifindex, asked once per name while one change (or one batch of them) is built.
class InterfaceIndexes {
 public:
  explicit InterfaceIndexes(nl_sock* sock) : sock_(sock) {}
  int indexOf(const std::string& name) {
    auto [it, inserted] = indexes_.try_emplace(name, 0);
    if (inserted) it->second = interfaceIndex(sock_, name);
    return it->second;
  }

 private:
  nl_sock* sock_;
  std::unordered_map<std::string, int> indexes_;
};

// --- one request, one answer ----------------------------------------------------------------

struct Outcome {
  int code = 0;          // 0, or a negative libnl error (-NLE_*)
  int kernel_errno = 0;  // the errno of the kernel's error reply (the socket is in step)
  std::string detail;    // the kernel's extended-ack message, if it sent one
  std::string ours;      // what went wrong on our side ("no acknowledgement"), if that did

  bool fromKernel() const { return kernel_errno != 0; }
  // libnl folds many errnos into "Unspecific failure" (EHOSTUNREACH, ENETUNREACH, ...), so a
  // kernel reply is reported with its own errno text.
  std::string text() const {
    if (!ours.empty()) return ours;
    std::string out = fromKernel() ? std::strerror(kernel_errno) : nl_geterror(code);
    if (!detail.empty()) out += " (kernel: " + detail + ")";
    return out;
  }
};

// The NLMSGERR_ATTR_MSG string that follows an error when NETLINK_EXT_ACK is on.
std::string extendedAckMessage(const nlmsgerr* error) {
  const auto* header =
      reinterpret_cast<const nlmsghdr*>(reinterpret_cast<const char*>(error) - NLMSG_HDRLEN);
  if ((header->nlmsg_flags & NLM_F_ACK_TLVS) == 0) return {};
  std::size_t payload = sizeof(nlmsgerr);
  if ((header->nlmsg_flags & NLM_F_CAPPED) == 0) {
    if (error->msg.nlmsg_len < NLMSG_HDRLEN) return {};
    payload += error->msg.nlmsg_len - NLMSG_HDRLEN;  // the request was echoed in full
  }
  std::size_t start = NLMSG_HDRLEN + NLMSG_ALIGN(payload);
  if (header->nlmsg_len <= start) return {};
  const auto* attrs =
      reinterpret_cast<const nlattr*>(reinterpret_cast<const char*>(header) + start);
  const nlattr* text =
      nla_find(attrs, static_cast<int>(header->nlmsg_len - start), NLMSGERR_ATTR_MSG);
  if (text == nullptr || nla_len(text) <= 0) return {};
  const char* data = static_cast<const char*>(nla_data(text));
  return std::string(data, strnlen(data, static_cast<std::size_t>(nla_len(text))));
}

struct AckState {
  int error = 0;  // errno
  bool answered = false;
  std::string detail;
};

int onAck(nl_msg* /*msg*/, void* arg) {
  static_cast<AckState*>(arg)->answered = true;
  return NL_STOP;
}

int onError(sockaddr_nl* /*who*/, nlmsgerr* error, void* arg) {
  auto* state = static_cast<AckState*>(arg);
  state->answered = true;
  state->error = -error->error;
  state->detail = extendedAckMessage(error);
  return NL_STOP;
}

Callbacks callbacksFor(nl_sock* sock) {
  Callbacks base(nl_socket_get_cb(sock));  // a new reference
  Callbacks copy(base ? nl_cb_clone(base.get()) : nullptr);
  if (!copy) throw RouteTableError("out of memory allocating netlink callbacks");
  return copy;
}

// Sends msg and waits for the kernel's ack or error.
Outcome request(nl_sock* sock, nl_msg* msg) {
  Outcome outcome;
  int rc = nl_send_auto(sock, msg);
  if (rc < 0) {
    outcome.code = rc;
    return outcome;
  }
  AckState state;
  Callbacks cb = callbacksFor(sock);
  nl_cb_set(cb.get(), NL_CB_ACK, NL_CB_CUSTOM, onAck, &state);
  nl_cb_err(cb.get(), NL_CB_CUSTOM, onError, &state);
  rc = nl_recvmsgs(sock, cb.get());
  if (state.error != 0) {
    outcome.code = -nl_syserr2nlerr(state.error);
    outcome.kernel_errno = state.error;
    outcome.detail = std::move(state.detail);
  } else if (rc < 0) {
    outcome.code = rc;
  } else if (!state.answered) {
    outcome.code = -NLE_FAILURE;
    outcome.ours = "no acknowledgement";
  }
  return outcome;
}

// --- many requests, answers read after ----------------------------------------------------

// Requests per sendmsg(), and bytes (the kernel refuses a message over SO_SNDBUF, 32 KiB as
// libnl sets it). The kernel's error replies to a whole batch must fit in the receive buffer
// (kReceiveBuffer; each reply costs about 1 KiB of it) even when every request fails.
constexpr std::size_t kBatchRequests = 128;
constexpr std::size_t kBatchBytes = 16 * 1024;
constexpr int kReceiveBuffer = 256 * 1024;
// The kernel handles a batch inside sendmsg(), so its answers are queued when that returns;
// this is how long to wait for them anyway before calling them lost.
constexpr int kAnswerWaitMs = 5000;

// Requests sent in batches, each in one sendmsg() with only its last request asking for an
// ack. The kernel answers a request without NLM_F_ACK only when it fails, and answers in order,
// so the last request's answer ends the batch's answers and every request without an error
// reply succeeded. Each request is copied in when added, so its nl_msg (a page each) can be
// freed at once: holding 10,000 of them costs more in page faults than the kernel's work.
class RequestBatches {
 public:
  // outcomes[i] is the outcome of the request added with index i.
  // `sent` counts the batches sent (one sendmsg() each).
  RequestBatches(nl_sock* sock, std::vector<Outcome>& outcomes, std::size_t& sent)
      : sock_(sock), outcomes_(outcomes), sent_(sent), in_(64 * 1024) {}

  // Returns false once answers were lost: the socket must then be replaced, and the requests
  // they belonged to (and every later one) are failures.
  bool add(std::size_t index, nl_msg* msg) {
    if (lost_) return fail(index, -NLE_FAILURE, "not sent: an earlier batch's answers were lost");
    nlmsghdr* header = nlmsg_hdr(msg);
    const std::size_t size = NLMSG_ALIGN(header->nlmsg_len);
    if (!batch_.empty() && (batch_.size() == kBatchRequests || out_.size() + size > kBatchBytes)) {
      if (!flush()) return fail(index, -NLE_FAILURE, "not sent: a batch's answers were lost");
    }
    header->nlmsg_flags = static_cast<std::uint16_t>((header->nlmsg_flags | NLM_F_REQUEST) &
                                                     ~static_cast<unsigned>(NLM_F_ACK));
    header->nlmsg_seq = static_cast<std::uint32_t>(batch_.size() + 1);  // its place + 1
    header->nlmsg_pid = 0;  // the kernel knows who sent it
    batch_.push_back(index);
    last_offset_ = out_.size();
    const auto* bytes = reinterpret_cast<const char*>(header);
    out_.insert(out_.end(), bytes, bytes + size);
    return true;
  }

  // Sends what is left and reads its answers.
  bool flush() {
    if (batch_.empty() || lost_) return !lost_;
    reinterpret_cast<nlmsghdr*>(out_.data() + last_offset_)->nlmsg_flags |= NLM_F_ACK;
    ++sent_;
    lost_ = !sendAndRead();
    out_.clear();
    batch_.clear();
    return !lost_;
  }

 private:
  bool fail(std::size_t index, int code, const char* why) {
    outcomes_[index].code = code;
    outcomes_[index].ours = why;
    return false;
  }

  // Every request of the batch not answered with an error: it may or may not have taken.
  void failUnanswered(int code, const std::string& why) {
    for (std::size_t index : batch_) {
      if (outcomes_[index].code == 0) {
        outcomes_[index].code = code;
        outcomes_[index].ours = why.empty() ? std::string(nl_geterror(code)) : why;
      }
    }
  }

  bool sendAndRead() {
    if (int rc = nl_sendto(sock_, out_.data(), out_.size()); rc < 0) {
      failUnanswered(rc, "");
      return false;
    }
    const int fd = nl_socket_get_fd(sock_);
    const auto last_seq = static_cast<std::uint32_t>(batch_.size());
    for (;;) {
      ssize_t n = ::recv(fd, in_.data(), in_.size(), MSG_DONTWAIT);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        pollfd wait{.fd = fd, .events = POLLIN, .revents = 0};
        if (::poll(&wait, 1, kAnswerWaitMs) > 0) continue;
        failUnanswered(-NLE_FAILURE, "no answer from the kernel within 5 s");
        return false;
      }
      if (n < 0) {  // ENOBUFS: the receive buffer overflowed and answers were dropped
        failUnanswered(-nl_syserr2nlerr(errno),
                       std::string("answers lost: ") + std::strerror(errno));
        return false;
      }
      auto remaining = static_cast<int>(n);
      for (auto* reply = reinterpret_cast<nlmsghdr*>(in_.data()); NLMSG_OK(reply, remaining);
           reply = NLMSG_NEXT(reply, remaining)) {
        if (reply->nlmsg_type != NLMSG_ERROR || reply->nlmsg_seq < 1 ||
            reply->nlmsg_seq > last_seq || reply->nlmsg_len < NLMSG_LENGTH(sizeof(nlmsgerr))) {
          continue;  // not an answer to this batch
        }
        const auto* error = static_cast<const nlmsgerr*>(NLMSG_DATA(reply));
        if (error->error != 0) {
          Outcome& outcome = outcomes_[batch_[reply->nlmsg_seq - 1]];
          outcome.kernel_errno = -error->error;
          outcome.code = -nl_syserr2nlerr(outcome.kernel_errno);
          outcome.detail = extendedAckMessage(error);
        }
        if (reply->nlmsg_seq == last_seq) return true;
      }
    }
  }

  nl_sock* sock_;
  std::vector<Outcome>& outcomes_;
  std::size_t& sent_;
  std::vector<char> out_;
  std::vector<std::size_t> batch_;  // indices into outcomes_, in the order sent
  std::size_t last_offset_ = 0;
  std::vector<char> in_;
  bool lost_ = false;
};

// --- dumps ----------------------------------------------------------------------------------

struct DumpState {
  const std::function<void(nlmsghdr*)>* handle = nullptr;
  std::exception_ptr failure;
};

int onDumpMessage(nl_msg* msg, void* arg) {
  auto* state = static_cast<DumpState*>(arg);
  // Never stop early: the rest of the dump would stay on the socket and confuse the next call.
  if (state->failure) return NL_OK;
  try {
    (*state->handle)(nlmsg_hdr(msg));
  } catch (...) {
    state->failure = std::current_exception();
  }
  return NL_OK;
}

// Dumps one object type of one family, calling `restart` before each attempt and `handle` per
// message. Returns 0 or the libnl error of the last attempt.
int dump(nl_sock* sock, int type, int family, const std::function<void()>& restart,
         const std::function<void(nlmsghdr*)>& handle) {
  int rc = 0;
  for (int attempt = 0; attempt < kDumpAttempts; ++attempt) {
    restart();
    rc = nl_rtgen_request(sock, type, family, NLM_F_DUMP);
    if (rc < 0) return rc;
    DumpState state{&handle, nullptr};
    Callbacks cb = callbacksFor(sock);
    nl_cb_set(cb.get(), NL_CB_VALID, NL_CB_CUSTOM, onDumpMessage, &state);
    rc = nl_recvmsgs(sock, cb.get());
    if (state.failure) std::rethrow_exception(state.failure);
    if (rc != -NLE_DUMP_INTR) return rc < 0 ? rc : 0;
  }
  return rc;
}

// --- routes ---------------------------------------------------------------------------------

std::uint8_t kernelType(RouteType type) {
  switch (type) {
    case RouteType::kUnicast:
      return RTN_UNICAST;
    case RouteType::kUnreachable:
      return RTN_UNREACHABLE;
    case RouteType::kBlackhole:
      return RTN_BLACKHOLE;
  }
  return RTN_UNICAST;
}

std::optional<RouteType> routeTypeOf(unsigned char kernel_type) {
  switch (kernel_type) {
    case RTN_UNICAST:
      return RouteType::kUnicast;
    case RTN_UNREACHABLE:
      return RouteType::kUnreachable;
    case RTN_BLACKHOLE:
      return RouteType::kBlackhole;
    default:
      return std::nullopt;
  }
}

bool hopBefore(const NextHop& a, const NextHop& b) {
  return std::tie(a.gateway, a.device, a.weight) < std::tie(b.gateway, b.device, b.weight);
}

// The route header of an IPv4 or IPv6 RTM_NEWROUTE that NLM_F_REPLACE of ours could hit (tos
// 0, no source selector, not a cached clone), or nullptr.
const rtmsg* replaceable(nlmsghdr* header) {
  if (header->nlmsg_type != RTM_NEWROUTE || !nlmsg_valid_hdr(header, sizeof(rtmsg))) {
    return nullptr;
  }
  const auto* rtm = static_cast<const rtmsg*>(nlmsg_data(header));
  const int max_length = rtm->rtm_family == AF_INET ? 32 : rtm->rtm_family == AF_INET6 ? 128 : -1;
  if (max_length < 0 || (rtm->rtm_flags & RTM_F_CLONED) != 0 || rtm->rtm_tos != 0 ||
      rtm->rtm_src_len != 0 || rtm->rtm_dst_len > max_length) {
    return nullptr;
  }
  return rtm;
}

// The destination prefix of a parsed route (0.0.0.0/0 or ::/0 when it has none).
std::optional<config::IpPrefix> destinationOf(rtnl_route* route, const rtmsg* rtm) {
  const bool v6 = rtm->rtm_family == AF_INET6;
  std::string network = v6 ? "::" : "0.0.0.0";
  nl_addr* dst = rtnl_route_get_dst(route);
  if (dst != nullptr && nl_addr_get_len(dst) > 0) {
    auto address = ipFrom(dst);
    if (!address || address->isV6() != v6) return std::nullopt;
    network = address->str();
  }
  // IpPrefix::parse rejects host bits, so a reply with a misaligned prefix is skipped.
  return config::IpPrefix::parse(network + "/" + std::to_string(rtm->rtm_dst_len), nullptr);
}

// A route's metric as KernelRoute says it (IPv6's 1024 is our 0).
std::uint32_t metricOf(rtnl_route* route, const rtmsg* rtm) {
  const std::uint32_t metric = rtnl_route_get_priority(route);
  return rtm->rtm_family == AF_INET6 && metric == kIpv6DefaultMetric ? 0 : metric;
}

// One RTM_NEWROUTE message of another protocol as the key it holds, or nothing.
std::optional<ForeignRoute> parseForeign(nlmsghdr* header, std::uint8_t protocol) {
  const rtmsg* rtm = replaceable(header);
  if (rtm == nullptr || rtm->rtm_protocol == protocol) return std::nullopt;
  rtnl_route* raw = nullptr;
  if (rtnl_route_parse(header, &raw) < 0 || raw == nullptr) return std::nullopt;
  Route parsed(raw);
  auto to = destinationOf(parsed.get(), rtm);
  if (!to) return std::nullopt;
  return ForeignRoute{.key = {.to = *to,
                              .table = rtnl_route_get_table(parsed.get()),
                              .metric = metricOf(parsed.get(), rtm)},
                      .protocol = rtm->rtm_protocol};
}

// One RTM_NEWROUTE message as a KernelRoute, or nothing when it is not ours or not something
// KernelRoute can say exactly (so that nothing we report back loses a detail).
std::optional<KernelRoute> parseRoute(nlmsghdr* header, std::uint8_t protocol,
                                      InterfaceNames& names) {
  const rtmsg* rtm = replaceable(header);
  if (rtm == nullptr || rtm->rtm_protocol != protocol) return std::nullopt;
  auto type = routeTypeOf(rtm->rtm_type);
  if (!type) return std::nullopt;
  // Nexthop objects, encapsulation, IPv6 gateways, source and input selectors: not ours.
  for (int attr : {RTA_NH_ID, RTA_ENCAP, RTA_VIA, RTA_SRC, RTA_IIF}) {
    if (nlmsg_find_attr(header, sizeof(rtmsg), attr) != nullptr) return std::nullopt;
  }
  rtnl_route* raw = nullptr;
  if (rtnl_route_parse(header, &raw) < 0 || raw == nullptr) return std::nullopt;
  Route parsed(raw);
  auto to = destinationOf(parsed.get(), rtm);
  if (!to) return std::nullopt;
  KernelRoute route{.to = *to,
                    .table = rtnl_route_get_table(parsed.get()),
                    .metric = metricOf(parsed.get(), rtm),
                    .type = *type,
                    .next_hops = {}};
  if (*type != RouteType::kUnicast) return route;

  const int count = rtnl_route_get_nnexthops(parsed.get());
  if (count <= 0) return std::nullopt;  // a device-only route: no gateway to name
  for (int i = 0; i < count; ++i) {
    rtnl_nexthop* hop = rtnl_route_nexthop_n(parsed.get(), i);
    if (hop == nullptr) return std::nullopt;
    auto gateway = ipFrom(rtnl_route_nh_get_gateway(hop));
    if (!gateway || gateway->isV6() != to->isV6()) return std::nullopt;
    // libnl's nexthop "weight" is the raw rtnh_hops byte, which the kernel reads as weight - 1.
    // A plain route carries no weight at all.
    int weight = count > 1 ? rtnl_route_nh_get_weight(hop) + 1 : 1;
    route.next_hops.push_back(NextHop{.gateway = *gateway,
                                      .device = names.nameOf(rtnl_route_nh_get_ifindex(hop)),
                                      .weight = weight});
  }
  std::sort(route.next_hops.begin(), route.next_hops.end(), hopBefore);
  return route;
}

// Why `route` cannot be sent as it is, or empty.
std::string routeProblem(const KernelRoute& route) {
  if (route.table == 0) return "table 0 is not a table (the kernel would use main)";
  if (route.type != RouteType::kUnicast) {
    if (!route.next_hops.empty()) {
      return "an " + std::string(toString(route.type)) + " route has no next hops";
    }
    return {};
  }
  if (route.next_hops.empty()) return "a unicast route needs a next hop";
  for (const NextHop& hop : route.next_hops) {
    if (unspecified(hop.gateway)) return "next hop " + hop.gateway.str() + " is not a gateway";
    if (hop.gateway.isV6() != route.to.isV6()) {
      return "next hop " + hop.gateway.str() + " is not of the destination's family";
    }
    if (hop.weight < 1 || hop.weight > kMaxWeight) {
      return "next hop " + hop.gateway.str() + " has weight " + std::to_string(hop.weight) +
             ", want 1..256";
    }
    if (hop.device.size() >= IF_NAMESIZE) return "device name \"" + hop.device + "\" is too long";
  }
  return {};
}

// The libnl route for `route`; next hops only when with_next_hops.
Route buildRoute(InterfaceIndexes& indexes, const KernelRoute& route, std::uint8_t protocol,
                 bool with_next_hops, const RouteFailure& fail) {
  Route out(rtnl_route_alloc());
  if (!out) fail("out of memory");
  const bool v6 = route.to.isV6();
  rtnl_route_set_family(out.get(), v6 ? AF_INET6 : AF_INET);
  rtnl_route_set_table(out.get(), route.table);  // libnl always adds RTA_TABLE (tables > 255)
  rtnl_route_set_protocol(out.get(), protocol);
  rtnl_route_set_scope(out.get(), RT_SCOPE_UNIVERSE);
  rtnl_route_set_priority(out.get(), v6 && route.metric == 0 ? kIpv6DefaultMetric : route.metric);
  rtnl_route_set_type(out.get(), kernelType(route.type));
  Addr dst = toNlAddr(route.to.network(), route.to.length());
  if (int rc = rtnl_route_set_dst(out.get(), dst.get()); rc < 0) fail(nl_geterror(rc));
  if (!with_next_hops) return out;

  std::vector<NextHop> hops = route.next_hops;
  std::sort(hops.begin(), hops.end(), hopBefore);
  const bool multipath = hops.size() > 1;
  for (const NextHop& hop : hops) {
    rtnl_nexthop* nh = rtnl_route_nh_alloc();
    if (nh == nullptr) fail("out of memory");
    rtnl_route_add_nexthop(out.get(), nh);  // the route owns it from here on
    Addr gateway = toNlAddr(hop.gateway, hop.gateway.isV6() ? 128 : 32);
    rtnl_route_nh_set_gateway(nh, gateway.get());
    if (!hop.device.empty()) {
      int index = indexes.indexOf(hop.device);
      if (index <= 0) fail("unknown device \"" + hop.device + "\"");
      rtnl_route_nh_set_ifindex(nh, index);
    }
    if (multipath) rtnl_route_nh_set_weight(nh, static_cast<std::uint8_t>(hop.weight - 1));
  }
  return out;
}

// --- rules ----------------------------------------------------------------------------------

// One RTM_NEWRULE message as a PolicyRule, or nothing when it is not ours or carries a
// selector PolicyRule has no word for (a delete built from a lossy copy could hit another rule).
std::optional<PolicyRule> parseRule(nlmsghdr* header, std::uint8_t protocol) {
  if (header->nlmsg_type != RTM_NEWRULE || !nlmsg_valid_hdr(header, sizeof(fib_rule_hdr))) {
    return std::nullopt;
  }
  const auto* frh = static_cast<const fib_rule_hdr*>(nlmsg_data(header));
  // IPv6 rules are ours only without a source (PolicyRule's source is IPv4).
  const bool v6 = frh->family == AF_INET6;
  if ((frh->family != AF_INET && !v6) || frh->action != FR_ACT_TO_TBL || frh->tos != 0 ||
      frh->dst_len != 0 || frh->src_len > (v6 ? 0 : 32) || (frh->flags & FIB_RULE_INVERT) != 0) {
    return std::nullopt;
  }
  std::optional<std::uint8_t> rule_protocol;
  std::optional<config::Ipv4Address> src;
  std::optional<std::uint32_t> mark, mask;
  std::uint32_t table = frh->table;
  std::uint32_t priority = 0;
  auto u32 = [](nlattr* attr) -> std::optional<std::uint32_t> {
    if (nla_len(attr) < 4) return std::nullopt;
    return nla_get_u32(attr);
  };
  nlattr* attr = nullptr;
  int remaining = 0;
  nlmsg_for_each_attr(attr, header, sizeof(fib_rule_hdr), remaining) {
    std::optional<std::uint32_t> value;
    switch (nla_type(attr)) {
      case FRA_PRIORITY:
        if (!(value = u32(attr))) return std::nullopt;
        priority = *value;
        break;
      case FRA_TABLE:
        if (!(value = u32(attr))) return std::nullopt;
        table = *value;
        break;
      case FRA_FWMARK:
        if (!(mark = u32(attr))) return std::nullopt;
        break;
      case FRA_FWMASK:
        if (!(mask = u32(attr))) return std::nullopt;
        break;
      case FRA_SRC:
        if (v6) return std::nullopt;
        src = ipv4From(nla_data(attr), static_cast<unsigned>(nla_len(attr)));
        if (!src) return std::nullopt;
        break;
      case FRA_SUPPRESS_PREFIXLEN:  // dumped always (6.x); -1 means "not set"
      case FRA_SUPPRESS_IFGROUP:
        if (u32(attr) != kUnset) return std::nullopt;
        break;
      case FRA_PROTOCOL:
        if (nla_len(attr) < 1) return std::nullopt;
        rule_protocol = nla_get_u8(attr);
        break;
      default:
        return std::nullopt;  // iif, oif, dst, ports, uid range, goto, l3mdev, dscp, ...
    }
  }
  if (rule_protocol != protocol) return std::nullopt;
  PolicyRule rule{
      .priority = priority, .from = std::nullopt, .fwmark = 0, .table = table, .v6 = v6};
  if (frh->src_len > 0) {
    if (!src) return std::nullopt;
    rule.from = cidrOf(*src, frh->src_len);
    if (!rule.from) return std::nullopt;
  }
  if (mark || mask) {
    if (!mark || *mark == 0 || mask.value_or(kExactMark) != kExactMark) return std::nullopt;
    rule.fwmark = *mark;
  }
  if (table == 0) return std::nullopt;
  return rule;
}

Rule buildRule(const PolicyRule& rule, std::uint8_t protocol, const RuleFailure& fail) {
  if (rule.table == 0) fail("table 0 is not a table");
  Rule out(rtnl_rule_alloc());
  if (!out) fail("out of memory");
  if (rule.v6 && rule.from) fail("an IPv6 rule cannot have an IPv4 source");
  rtnl_rule_set_family(out.get(), rule.v6 ? AF_INET6 : AF_INET);
  rtnl_rule_set_prio(out.get(), rule.priority);
  rtnl_rule_set_table(out.get(), rule.table);  // libnl always adds FRA_TABLE (tables > 255)
  rtnl_rule_set_action(out.get(), FR_ACT_TO_TBL);
  // libnl 3.7 has the FRA_PROTOCOL setter (kernel >= 4.17 keeps and matches it).
  if (int rc = rtnl_rule_set_protocol(out.get(), protocol); rc < 0) fail(nl_geterror(rc));
  // "from 0.0.0.0/0" is "from all": the kernel stores no source for it.
  if (rule.from && rule.from->length() > 0) {
    Addr src = toNlAddr(rule.from->network(), rule.from->length());
    if (int rc = rtnl_rule_set_src(out.get(), src.get()); rc < 0) fail(nl_geterror(rc));
  }
  if (rule.fwmark != 0) {
    rtnl_rule_set_mark(out.get(), rule.fwmark);
    rtnl_rule_set_mask(out.get(), kExactMark);
  }
  return out;
}

}  // namespace

// --- NetlinkRouteTable ----------------------------------------------------------------------

io::NetlinkSocket NetlinkRouteTable::connect() {
  std::string error;
  io::NetlinkSocket sock = io::connectNetlink(NETLINK_ROUTE, &error);
  if (!sock) throw RouteTableError(error);
  // The kernel's own words in errors ("Nexthop has invalid gateway"), without the echoed
  // request. Older kernels lack the options: errors are then only errno text.
  int one = 1;
  int fd = nl_socket_get_fd(sock.get());
  setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one);
  setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one);
  // Room for the error replies to a whole batch (requestAll); 0 keeps libnl's send buffer.
  nl_socket_set_buffer_size(sock.get(), kReceiveBuffer, 0);
  return sock;
}

NetlinkRouteTable::NetlinkRouteTable(std::uint8_t protocol)
    : protocol_(protocol), sock_(connect()) {}

NetlinkRouteTable::~NetlinkRouteTable() = default;

void NetlinkRouteTable::reconnect() { sock_ = connect(); }

std::vector<KernelRoute> NetlinkRouteTable::routes() {
  std::vector<KernelRoute> out;
  InterfaceNames names;
  for (const int family : {AF_INET, AF_INET6}) {
    std::vector<KernelRoute> of_family;
    int rc = dump(
        sock_.get(), RTM_GETROUTE, family, [&] { of_family.clear(); },
        [&](nlmsghdr* header) {
          if (auto route = parseRoute(header, protocol_, names)) {
            of_family.push_back(std::move(*route));
          }
        });
    if (rc < 0) {
      reconnect();
      throw RouteTableError(std::string("cannot list the kernel's ") +
                            (family == AF_INET ? "IPv4" : "IPv6") + " routes: " + nl_geterror(rc));
    }
    out.insert(out.end(), of_family.begin(), of_family.end());
  }
  std::sort(out.begin(), out.end(), [](const KernelRoute& a, const KernelRoute& b) {
    return std::tuple(a.table, keyOf(a)) < std::tuple(b.table, keyOf(b));
  });
  return out;
}

std::vector<ForeignRoute> NetlinkRouteTable::foreignRoutes() {
  std::vector<ForeignRoute> out;
  for (const int family : {AF_INET, AF_INET6}) {
    std::vector<ForeignRoute> of_family;
    int rc = dump(
        sock_.get(), RTM_GETROUTE, family, [&] { of_family.clear(); },
        [&](nlmsghdr* header) {
          if (auto route = parseForeign(header, protocol_)) of_family.push_back(*route);
        });
    if (rc < 0) {
      reconnect();
      throw RouteTableError(std::string("cannot list the kernel's ") +
                            (family == AF_INET ? "IPv4" : "IPv6") + " routes: " + nl_geterror(rc));
    }
    out.insert(out.end(), of_family.begin(), of_family.end());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<PolicyRule> NetlinkRouteTable::rules() {
  std::vector<PolicyRule> out;
  for (const int family : {AF_INET, AF_INET6}) {
    std::vector<PolicyRule> of_family;
    int rc = dump(
        sock_.get(), RTM_GETRULE, family, [&] { of_family.clear(); },
        [&](nlmsghdr* header) {
          if (auto rule = parseRule(header, protocol_)) of_family.push_back(std::move(*rule));
        });
    if (rc < 0) {
      reconnect();
      throw RouteTableError(std::string("cannot list the kernel's ") +
                            (family == AF_INET ? "IPv4" : "IPv6") + " rules: " + nl_geterror(rc));
    }
    out.insert(out.end(), of_family.begin(), of_family.end());
  }
  std::sort(out.begin(), out.end());
  return out;
}

namespace {

// The request replace() sends for `route`; `fail` throws when it cannot be built.
Msg replaceRequest(InterfaceIndexes& indexes, const KernelRoute& route, std::uint8_t protocol,
                   const RouteFailure& fail) {
  if (std::string problem = routeProblem(route); !problem.empty()) fail(problem);
  Route object = buildRoute(indexes, route, protocol, true, fail);
  nl_msg* raw = nullptr;
  // NLM_F_REPLACE swaps the route in place: no moment without it (never delete + add).
  if (int rc = rtnl_route_build_add_request(object.get(), NLM_F_REPLACE, &raw); rc < 0) {
    fail(nl_geterror(rc));
  }
  return Msg(raw);
}

Msg removeRequest(InterfaceIndexes& indexes, const KernelRoute& route, std::uint8_t protocol,
                  const RouteFailure& fail) {
  if (route.table == 0) fail("table 0 is not a table");
  // Matched on destination, table, metric, type and protocol; next hops are not compared.
  Route object = buildRoute(indexes, route, protocol, false, fail);
  nl_msg* raw = nullptr;
  if (int rc = rtnl_route_build_del_request(object.get(), 0, &raw); rc < 0) fail(nl_geterror(rc));
  Msg msg(raw);
  // Any scope, like `ip route del`: libnl would otherwise guess "link" for a route without
  // next hops, and the kernel would then not match our universe-scope routes.
  static_cast<rtmsg*>(nlmsg_data(nlmsg_hdr(msg.get())))->rtm_scope = RT_SCOPE_NOWHERE;
  return msg;
}

// A removal of a route that is not there has nothing to do (ESRCH, ENOENT).
bool removed(const Outcome& outcome) {
  return outcome.code == 0 || outcome.code == -NLE_OBJ_NOTFOUND;
}

// Builds every route's request with `build` and sends them in RequestBatches: one error
// message per route that could not be built or that the kernel refused (`done` says which
// outcomes are success). *lost: answers were lost, the socket must be replaced.
template <class Build, class Done>
std::vector<std::string> changeAll(nl_sock* sock, std::span<const KernelRoute> routes,
                                   const char* action, Build build, Done done, bool* lost,
                                   std::size_t& sent) {
  std::vector<std::string> errors;
  std::vector<Outcome> outcomes(routes.size());
  std::vector<bool> built(routes.size(), false);
  InterfaceIndexes indexes(sock);
  RequestBatches batches(sock, outcomes, sent);
  for (std::size_t i = 0; i < routes.size(); ++i) {
    try {
      Msg request = build(indexes, routes[i], RouteFailure{action, routes[i]});
      built[i] = true;
      batches.add(i, request.get());
    } catch (const RouteTableError& e) {
      outcomes[i].ours = e.what();  // already the whole message
    }
  }
  *lost = !batches.flush();
  for (std::size_t i = 0; i < routes.size(); ++i) {
    if (!built[i]) {
      errors.push_back(std::move(outcomes[i].ours));
    } else if (!done(outcomes[i])) {
      errors.push_back(std::string("cannot ") + action + " " + describe(routes[i]) + ": " +
                       outcomes[i].text());
    }
  }
  return errors;
}

}  // namespace

void NetlinkRouteTable::replace(const KernelRoute& route) {
  const RouteFailure fail{"replace route", route};
  InterfaceIndexes indexes(sock_.get());
  Msg msg = replaceRequest(indexes, route, protocol_, fail);
  Outcome outcome = request(sock_.get(), msg.get());
  if (outcome.code == 0) return;
  if (!outcome.fromKernel()) reconnect();
  fail(outcome.text());
}

void NetlinkRouteTable::remove(const KernelRoute& route) {
  const RouteFailure fail{"remove route", route};
  InterfaceIndexes indexes(sock_.get());
  Msg msg = removeRequest(indexes, route, protocol_, fail);
  Outcome outcome = request(sock_.get(), msg.get());
  if (removed(outcome)) return;
  if (!outcome.fromKernel()) reconnect();
  fail(outcome.text());
}

std::vector<std::string> NetlinkRouteTable::replaceAll(std::span<const KernelRoute> routes) {
  bool lost = false;
  auto build = [this](InterfaceIndexes& indexes, const KernelRoute& route,
                      const RouteFailure& fail) {
    return replaceRequest(indexes, route, protocol_, fail);
  };
  auto errors = changeAll(
      sock_.get(), routes, "replace route", build, [](const Outcome& o) { return o.code == 0; },
      &lost, batches_sent_);
  if (lost) reconnect();
  return errors;
}

std::vector<std::string> NetlinkRouteTable::removeAll(std::span<const KernelRoute> routes) {
  bool lost = false;
  auto build = [this](InterfaceIndexes& indexes, const KernelRoute& route,
                      const RouteFailure& fail) {
    return removeRequest(indexes, route, protocol_, fail);
  };
  auto errors =
      changeAll(sock_.get(), routes, "remove route", build, removed, &lost, batches_sent_);
  if (lost) reconnect();
  return errors;
}

void NetlinkRouteTable::add(const PolicyRule& rule) {
  const RuleFailure fail{"add rule", rule};
  Rule object = buildRule(rule, protocol_, fail);
  nl_msg* raw = nullptr;
  // NLM_F_EXCL: without it the kernel adds an identical rule a second time.
  if (int rc = rtnl_rule_build_add_request(object.get(), NLM_F_EXCL, &raw); rc < 0) {
    fail(nl_geterror(rc));
  }
  Msg msg(raw);
  Outcome outcome = request(sock_.get(), msg.get());
  if (outcome.code == 0 || outcome.code == -NLE_EXIST) return;
  if (!outcome.fromKernel()) reconnect();
  fail(outcome.text());
}

void NetlinkRouteTable::remove(const PolicyRule& rule) {
  const RuleFailure fail{"remove rule", rule};
  Rule object = buildRule(rule, protocol_, fail);
  nl_msg* raw = nullptr;
  if (int rc = rtnl_rule_build_delete_request(object.get(), 0, &raw); rc < 0) {
    fail(nl_geterror(rc));
  }
  Msg msg(raw);
  Outcome outcome = request(sock_.get(), msg.get());
  if (outcome.code == 0 || outcome.code == -NLE_OBJ_NOTFOUND) return;
  if (!outcome.fromKernel()) reconnect();
  fail(outcome.text());
}

}  // namespace meshbroker::routing
