// The rate-limit plan (pure) and its libnl-route-3 adapter (HTB, u32, ingress, mirred, ifb).
#include "backends/rate_limit.hpp"

#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <net/if.h>
#include <netlink/netlink.h>
#include <netlink/route/act/mirred.h>
#include <netlink/route/classifier.h>
#include <netlink/route/cls/u32.h>
#include <netlink/route/link.h>
#include <netlink/route/qdisc.h>
#include <netlink/route/qdisc/fifo.h>
#include <netlink/route/qdisc/htb.h>
#include <netlink/route/tc.h>

#include <algorithm>
#include <cstdio>

#include "io/netlink.hpp"

namespace meshbroker::backends {
namespace {

constexpr std::uint32_t kRootMajor = 1;
constexpr std::uint32_t kIngressMajor = 0xffff;
// The ifb device queues a burst of upload packets before HTB takes them.
constexpr std::uint32_t kIfbTxQueueLen = 1000;

using Link = io::NlPtr<rtnl_link, rtnl_link_put>;
using Qdisc = io::NlPtr<rtnl_qdisc, rtnl_qdisc_put>;
using Class = io::NlPtr<rtnl_class, rtnl_class_put>;
using Cls = io::NlPtr<rtnl_cls, rtnl_cls_put>;
using Act = io::NlPtr<rtnl_act, rtnl_act_put>;

void check(int rc, const std::string& what) {
  if (rc < 0) throw RateLimitError(what + ": " + nl_geterror(rc));
}

io::NetlinkSocket connect() {
  std::string error;
  io::NetlinkSocket sock = io::connectNetlink(NETLINK_ROUTE, &error);
  if (!sock) throw RateLimitError(error);
  return sock;
}

int indexOf(const std::string& name) { return static_cast<int>(if_nametoindex(name.c_str())); }

void deleteQdisc(nl_sock* sock, int ifindex, std::uint32_t parent) {
  Qdisc qdisc(rtnl_qdisc_alloc());
  rtnl_tc_set_ifindex(TC_CAST(qdisc.get()), ifindex);
  rtnl_tc_set_parent(TC_CAST(qdisc.get()), parent);
  rtnl_qdisc_delete(sock, qdisc.get());  // absent is fine: nothing to remove
}

void addHtbRoot(nl_sock* sock, int ifindex, const std::string& device) {
  Qdisc qdisc(rtnl_qdisc_alloc());
  rtnl_tc_set_ifindex(TC_CAST(qdisc.get()), ifindex);
  rtnl_tc_set_parent(TC_CAST(qdisc.get()), TC_H_ROOT);
  rtnl_tc_set_handle(TC_CAST(qdisc.get()), TC_HANDLE(kRootMajor, 0));
  check(rtnl_tc_set_kind(TC_CAST(qdisc.get()), "htb"), "htb qdisc kind");
  // Traffic no filter classifies (other subnets, the server itself) is not shaped.
  rtnl_htb_set_defcls(qdisc.get(), 0);
  check(rtnl_qdisc_add(sock, qdisc.get(), NLM_F_CREATE | NLM_F_REPLACE),
        "cannot add the htb qdisc on " + device);
}

void addClass(nl_sock* sock, int ifindex, const RateLimitPlan& plan, const ClientClass& item,
              const std::string& device) {
  Class cl(rtnl_class_alloc());
  rtnl_tc_set_ifindex(TC_CAST(cl.get()), ifindex);
  rtnl_tc_set_parent(TC_CAST(cl.get()), TC_HANDLE(kRootMajor, 0));
  rtnl_tc_set_handle(TC_CAST(cl.get()), TC_HANDLE(kRootMajor, item.minor));
  check(rtnl_tc_set_kind(TC_CAST(cl.get()), "htb"), "htb class kind");
  std::uint64_t bytes = plan.bits_per_second / 8;
  rtnl_htb_set_rate64(cl.get(), bytes);
  rtnl_htb_set_ceil64(cl.get(), bytes);
  rtnl_htb_set_rbuffer(cl.get(), plan.burst_bytes);
  rtnl_htb_set_cbuffer(cl.get(), plan.burst_bytes);
  rtnl_htb_set_quantum(cl.get(), 1514);
  check(rtnl_class_add(sock, cl.get(), NLM_F_CREATE),
        "cannot add htb class for " + item.address.str() + " on " + device);
  // A packet-counted leaf queue: long enough for TCP to fill the rate, short enough that a
  // saturated client does not sit behind seconds of its own backlog. Not bytes: the qdisc
  // sees GSO packets of up to 64 KiB, which a byte limit sized for the rate would drop.
  Qdisc leaf(rtnl_qdisc_alloc());
  rtnl_tc_set_ifindex(TC_CAST(leaf.get()), ifindex);
  rtnl_tc_set_parent(TC_CAST(leaf.get()), TC_HANDLE(kRootMajor, item.minor));
  rtnl_tc_set_handle(TC_CAST(leaf.get()), TC_HANDLE(0x100u + item.minor, 0));
  check(rtnl_tc_set_kind(TC_CAST(leaf.get()), "pfifo"), "pfifo kind");
  rtnl_qdisc_fifo_set_limit(leaf.get(), static_cast<int>(plan.queue_packets));
  check(rtnl_qdisc_add(sock, leaf.get(), NLM_F_CREATE),
        "cannot add the leaf queue for " + item.address.str() + " on " + device);
}

// An empty u32 filter for one protocol; tc keeps one protocol per priority, so IPv4 filters
// are priority 1 and IPv6 ones 2.
Cls u32For(int ifindex, std::uint32_t parent, std::uint16_t protocol) {
  Cls cls(rtnl_cls_alloc());
  rtnl_tc_set_ifindex(TC_CAST(cls.get()), ifindex);
  rtnl_tc_set_parent(TC_CAST(cls.get()), parent);
  if (rtnl_tc_set_kind(TC_CAST(cls.get()), "u32") < 0) throw RateLimitError("u32 kind");
  rtnl_cls_set_prio(cls.get(), protocol == ETH_P_IPV6 ? 2 : 1);
  rtnl_cls_set_protocol(cls.get(), protocol);
  return cls;
}

// u32 on a tun device: no link header, so the IPv4 source is at offset 12, destination at 16.
Cls u32Filter(int ifindex, std::uint32_t parent, std::uint32_t value, std::uint32_t mask,
              int offset) {
  Cls cls = u32For(ifindex, parent, ETH_P_IP);
  check(rtnl_u32_add_key_uint32(cls.get(), value, mask, offset, 0), "u32 key");
  return cls;
}

void addClassFilter(nl_sock* sock, int ifindex, const ClientClass& item, int offset,
                    const std::string& device) {
  auto cls =
      u32Filter(ifindex, TC_HANDLE(kRootMajor, 0), item.address.value(), 0xffffffffu, offset);
  rtnl_u32_set_classid(cls.get(), TC_HANDLE(kRootMajor, item.minor));
  rtnl_u32_set_cls_terminal(cls.get());
  check(rtnl_cls_add(sock, cls.get(), NLM_F_CREATE),
        "cannot add the u32 filter for " + item.address.str() + " on " + device);
}

// u32 of protocol IPv6 matching the first `length` bits of an IPv6 address at `offset`
// (source 8, destination 24 on a tun device).
Cls u32Filter6(int ifindex, std::uint32_t parent, const config::Ipv6Address& address, int length,
               int offset) {
  Cls cls = u32For(ifindex, parent, ETH_P_IPV6);
  const auto& bytes = address.bytes();
  for (int word = 0; word < 4 && length > 32 * word; ++word) {
    const int bits = std::min(32, length - 32 * word);
    const std::uint32_t mask = bits == 32 ? 0xffffffffu : ~(0xffffffffu >> bits);
    std::uint32_t value = 0;
    for (int i = 0; i < 4; ++i)
      value = (value << 8) | bytes[static_cast<std::size_t>(4 * word + i)];
    // Host order: libnl converts (rtnl_u32_add_key_uint32 calls htonl).
    check(rtnl_u32_add_key_uint32(cls.get(), value & mask, mask, offset + 4 * word, 0), "u32 key");
  }
  return cls;
}

void addClassFilter6(nl_sock* sock, int ifindex, const ClientClass& item, int offset,
                     const std::string& device) {
  auto cls = u32Filter6(ifindex, TC_HANDLE(kRootMajor, 0), *item.address6, 128, offset);
  rtnl_u32_set_classid(cls.get(), TC_HANDLE(kRootMajor, item.minor));
  rtnl_u32_set_cls_terminal(cls.get());
  check(rtnl_cls_add(sock, cls.get(), NLM_F_CREATE),
        "cannot add the u32 filter for " + item.address6->str() + " on " + device);
}

// offset: of the IPv4 address the classes match (16 destination, 12 source); the IPv6 one
// follows (24, 8).
void shape(nl_sock* sock, int ifindex, const RateLimitPlan& plan, int offset,
           const std::string& device) {
  deleteQdisc(sock, ifindex, TC_H_ROOT);
  addHtbRoot(sock, ifindex, device);
  for (const auto& item : plan.classes) addClass(sock, ifindex, plan, item, device);
  for (const auto& item : plan.classes) addClassFilter(sock, ifindex, item, offset, device);
  const int offset6 = offset == 16 ? 24 : 8;
  for (const auto& item : plan.classes) {
    if (item.address6) addClassFilter6(sock, ifindex, item, offset6, device);
  }
}

// The tun device's ingress hands a prefix's packets to the ifb device.
void redirect(nl_sock* sock, Cls cls, int ifb, const RateLimitPlan& plan) {
  Act act(rtnl_act_alloc());
  check(rtnl_tc_set_kind(TC_CAST(act.get()), "mirred"), "mirred kind");
  rtnl_mirred_set_action(act.get(), TCA_EGRESS_REDIR);
  rtnl_mirred_set_policy(act.get(), TC_ACT_STOLEN);
  rtnl_mirred_set_ifindex(act.get(), static_cast<std::uint32_t>(ifb));
  check(rtnl_u32_add_action(cls.get(), act.get()), "u32 action");
  rtnl_u32_set_cls_terminal(cls.get());
  check(rtnl_cls_add(sock, cls.get(), NLM_F_CREATE),
        "cannot redirect " + plan.device + "'s upload to " + plan.ifb_device);
}

int ensureIfb(nl_sock* sock, const std::string& name) {
  if (indexOf(name) == 0) {
    Link link(rtnl_link_alloc());
    rtnl_link_set_name(link.get(), name.c_str());
    check(rtnl_link_set_type(link.get(), "ifb"), "ifb devices are not available");
    rtnl_link_set_txqlen(link.get(), kIfbTxQueueLen);
    check(rtnl_link_add(sock, link.get(), NLM_F_CREATE), "cannot create " + name);
  }
  int index = indexOf(name);
  if (index == 0) throw RateLimitError("cannot find " + name + " after creating it");
  rtnl_link* raw = nullptr;
  check(rtnl_link_get_kernel(sock, index, nullptr, &raw), "cannot read " + name);
  Link current(raw);
  Link change(rtnl_link_alloc());
  rtnl_link_set_flags(change.get(), IFF_UP);
  check(rtnl_link_change(sock, current.get(), change.get(), 0), "cannot set " + name + " up");
  return index;
}

}  // namespace

config::Ipv6Address plus(const config::Ipv6Address& address, std::uint32_t n) {
  auto bytes = address.bytes();
  std::uint64_t carry = n;
  for (int i = 15; i >= 0 && carry != 0; --i) {
    carry += bytes[static_cast<std::size_t>(i)];
    bytes[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(carry & 0xff);
    carry >>= 8;
  }
  return config::Ipv6Address::fromBytes(bytes);
}

std::string ifbNameFor(const std::string& device) {
  std::uint32_t hash = 2166136261u;  // FNV-1a
  for (unsigned char c : device) {
    hash ^= c;
    hash *= 16777619u;
  }
  char name[16];
  std::snprintf(name, sizeof name, "ifb%08x", hash);
  return name;
}

RateLimitPlan planRateLimit(const config::OpenVpnInstance& instance) {
  if (!instance.rate_limit) {
    throw RateLimitError("instance " + instance.name.str() + " has no rate_limit");
  }
  const auto& subnet = instance.subnet;
  if (subnet.length() < 24 || subnet.length() > 30) {
    throw RateLimitError("subnet " + subnet.str() + " must be /24../30 for per-client classes");
  }
  RateLimitPlan plan{.device = instance.interface.str(),
                     .ifb_device = ifbNameFor(instance.interface.str()),
                     .subnet = subnet,
                     .subnet6 = instance.subnet6,
                     .bits_per_second = instance.rate_limit->bitsPerSecond(),
                     .burst_bytes = 0,
                     .queue_packets = 0,
                     .classes = {}};
  std::uint64_t bytes = plan.bits_per_second / 8;
  // 10 ms of rate per burst, at least two full-size packets.
  plan.burst_bytes =
      static_cast<std::uint32_t>(std::clamp<std::uint64_t>(bytes / 100, 3200, 1u << 24));
  // 100 ms of full-size packets at the rate, 30..1000 (TCP needs a few in flight).
  plan.queue_packets =
      static_cast<std::uint32_t>(std::clamp<std::uint64_t>(bytes / 10 / 1500, 30, 1000));
  std::uint32_t network = subnet.network().value();
  std::uint32_t size = ~subnet.mask() + 1;
  for (std::uint32_t offset = 1; offset + 1 < size; ++offset) {
    ClientClass item{config::Ipv4Address::fromUint(network + offset),
                     static_cast<std::uint16_t>(offset)};
    // OpenVPN's pool: IPv4 from network+2 (the server has +1), IPv6 from base6, same index.
    if (instance.subnet6 && offset >= 2) {
      const std::uint32_t base = instance.subnet6->length() < 112 ? 0x1000 : 2;
      const auto address6 = plus(instance.subnet6->network(), base + (offset - 2));
      // A small IPv6 pool (/113../124) ends first: OpenVPN's pool is the smaller of the two.
      if (instance.subnet6->contains(address6)) item.address6 = address6;
    }
    plan.classes.push_back(item);
  }
  return plan;
}

void NetlinkRateLimiter::apply(const RateLimitPlan& plan) {
  auto sock = connect();
  int tun = indexOf(plan.device);
  if (tun == 0) throw RateLimitError("device " + plan.device + " does not exist (yet)");
  int ifb = ensureIfb(sock.get(), plan.ifb_device);
  // Download: shape on the tun device's egress by destination.
  shape(sock.get(), tun, plan, 16, plan.device);
  // Upload: shape on the ifb device's egress by source ...
  shape(sock.get(), ifb, plan, 12, plan.ifb_device);
  // ... after the tun device's ingress hands the client subnet's packets to it.
  deleteQdisc(sock.get(), tun, TC_H_INGRESS);
  Qdisc ingress(rtnl_qdisc_alloc());
  rtnl_tc_set_ifindex(TC_CAST(ingress.get()), tun);
  rtnl_tc_set_parent(TC_CAST(ingress.get()), TC_H_INGRESS);
  rtnl_tc_set_handle(TC_CAST(ingress.get()), TC_HANDLE(kIngressMajor, 0));
  check(rtnl_tc_set_kind(TC_CAST(ingress.get()), "ingress"), "ingress kind");
  check(rtnl_qdisc_add(sock.get(), ingress.get(), NLM_F_CREATE),
        "cannot add the ingress qdisc on " + plan.device);
  redirect(sock.get(),
           u32Filter(tun, TC_HANDLE(kIngressMajor, 0), plan.subnet.network().value(),
                     plan.subnet.mask(), 12),
           ifb, plan);
  if (plan.subnet6) {
    redirect(sock.get(),
             u32Filter6(tun, TC_HANDLE(kIngressMajor, 0), plan.subnet6->network(),
                        plan.subnet6->length(), 8),
             ifb, plan);
  }
}

void NetlinkRateLimiter::clear(const RateLimitPlan& plan) {
  auto sock = connect();
  if (int tun = indexOf(plan.device); tun != 0) {
    deleteQdisc(sock.get(), tun, TC_H_ROOT);
    deleteQdisc(sock.get(), tun, TC_H_INGRESS);
  }
  if (int ifb = indexOf(plan.ifb_device); ifb != 0) {
    Link link(rtnl_link_alloc());
    rtnl_link_set_ifindex(link.get(), ifb);
    check(rtnl_link_delete(sock.get(), link.get()), "cannot delete " + plan.ifb_device);
  }
}

}  // namespace meshbroker::backends
