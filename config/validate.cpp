// The cross-checks: names, addresses, ports and subnets that must agree with each other.
#include "config/validate.hpp"

#include <map>
#include <string>
#include <vector>

namespace meshbroker::config {
namespace {

std::string quoted(const std::string& text) { return "\"" + text + "\""; }
std::string at(std::string_view base, std::size_t index) {
  return std::string(base) + "/" + std::to_string(index);
}

// A name no host has: the names there are, each with its path, so a typo or a renamed host is
// found from the message alone.
std::string notAKnownHost(const NodeConfig& config) {
  std::string message = "is not a known host (add it to /hosts";
  if (config.hosts.empty()) return message + ", which is empty)";
  constexpr std::size_t kShown = 8;
  for (std::size_t i = 0; i < config.hosts.size() && i < kShown; ++i) {
    message += (i == 0 ? "; known: " : ", ") + quoted(config.hosts[i].name.str()) + " at " +
               at("/hosts", i) + "/name";
  }
  if (config.hosts.size() > kShown) message += ", ...";
  return message + ")";
}

std::string hostPath(const NodeConfig& config, const Host* host) {
  return at("/hosts", static_cast<std::size_t>(host - config.hosts.data()));
}

// Remembers the first path that claimed a value, to name it when a second one does.
class Claims {
 public:
  // Returns the earlier claimant's path, or empty if key was free.
  std::string claim(const std::string& key, const std::string& path) {
    auto [it, inserted] = owners_.emplace(key, path);
    return inserted ? std::string() : it->second;
  }

 private:
  std::map<std::string, std::string> owners_;
};

void checkNames(const NodeConfig& config, Diagnostics& diag) {
  Claims names;
  names.claim(config.name.str(), "/name");
  for (std::size_t i = 0; i < config.hosts.size(); ++i) {
    const auto& name = config.hosts[i].name.str();
    if (auto earlier = names.claim(name, at("/hosts", i) + "/name"); !earlier.empty()) {
      diag.error(at("/hosts", i) + "/name", quoted(name), "is already used by " + earlier);
    }
  }
}

void checkConnectTo(const NodeConfig& config, Diagnostics& diag) {
  Claims seen;
  for (std::size_t i = 0; i < config.tinc.connect_to.size(); ++i) {
    const auto& target = config.tinc.connect_to[i];
    std::string path = at("/tinc/connect_to", i);
    if (target == config.name) {
      diag.error(path, quoted(target.str()), "is this node itself");
      continue;
    }
    if (auto earlier = seen.claim(target.str(), path); !earlier.empty()) {
      diag.error(path, quoted(target.str()), "is listed twice (also at " + earlier + ")");
      continue;
    }
    const Host* host = config.findHost(target);
    if (!host) {
      diag.error(path, quoted(target.str()), notAKnownHost(config));
    } else if (!host->public_endpoint) {
      diag.error(
          path, quoted(target.str()),
          "has no public_address at " + hostPath(config, host) + ", so tincd cannot dial it");
    }
  }
}

void checkMeshAddresses(const NodeConfig& config, Diagnostics& diag) {
  const Cidr& prefix = config.tinc.prefix;
  Claims addresses;
  auto check = [&](Ipv4Address address, const std::string& path) {
    if (!prefix.contains(address)) {
      diag.error(path, quoted(address.str()),
                 "is outside the mesh prefix " + prefix.str() + " (/tinc/prefix)");
      return;
    }
    if (prefix.length() <= 30 && (address == prefix.network() || address == prefix.broadcast())) {
      diag.error(path, quoted(address.str()),
                 "is the network or broadcast address of " + prefix.str());
      return;
    }
    if (auto earlier = addresses.claim(address.str(), path); !earlier.empty()) {
      diag.error(path, quoted(address.str()), "is already used by " + earlier);
    }
  };
  check(config.tinc.address, "/tinc/address");
  for (std::size_t i = 0; i < config.hosts.size(); ++i) {
    check(config.hosts[i].mesh_address, at("/hosts", i) + "/mesh_address");
  }
}

// IPv6 is optional (issue 21): the node's address and the network's prefix come together, and
// every IPv6 address and pool is checked as strictly as its IPv4 twin.
void checkIpv6(const NodeConfig& config, Diagnostics& diag) {
  const auto& tinc = config.tinc;
  if (tinc.address6 && !tinc.prefix6) {
    diag.error("/tinc/prefix6", "",
               "is missing: /tinc/address6 needs the network's IPv6 mesh prefix");
  }
  if (tinc.prefix6 && !tinc.address6) {
    diag.error("/tinc/address6", "", "is missing: /tinc/prefix6 is set, so this node needs one");
  }
  const auto& prefix6 = tinc.prefix6;
  if (prefix6 && !prefix6->network().isUlaOrGlobal()) {
    diag.error("/tinc/prefix6", quoted(prefix6->str()),
               "is neither unique local (fc00::/7) nor global unicast (2000::/3)");
  }
  if (prefix6 && prefix6->length() > 126) {
    diag.error("/tinc/prefix6", quoted(prefix6->str()), "is too small for a mesh (at most /126)");
  }
  Claims addresses;
  auto address = [&](const Ipv6Address& a, const std::string& path) {
    if (!prefix6) {
      diag.error(path, quoted(a.str()), "needs /tinc/prefix6 (the network's IPv6 mesh prefix)");
      return;
    }
    if (!prefix6->contains(a)) {
      diag.error(path, quoted(a.str()),
                 "is outside the IPv6 mesh prefix " + prefix6->str() + " (/tinc/prefix6)");
    } else if (a == prefix6->network()) {
      diag.error(path, quoted(a.str()),
                 "is the subnet-router anycast address of " + prefix6->str());
    } else if (auto earlier = addresses.claim(a.str(), path); !earlier.empty()) {
      diag.error(path, quoted(a.str()), "is already used by " + earlier);
    }
  };
  if (tinc.address6) address(*tinc.address6, "/tinc/address6");
  for (std::size_t i = 0; i < config.hosts.size(); ++i) {
    const auto& host = config.hosts[i];
    if (host.mesh_address6) address(*host.mesh_address6, at("/hosts", i) + "/mesh_address6");
  }

  struct Claimed {
    Cidr6 prefix;
    std::string path;
  };
  std::vector<Claimed> claimed;
  if (prefix6) claimed.push_back({*prefix6, "/tinc/prefix6"});
  auto pool = [&](const Cidr6& p, const std::string& path) {
    if (!p.network().isUlaOrGlobal()) {
      diag.error(path, quoted(p.str()),
                 "is neither unique local (fc00::/7) nor global unicast (2000::/3)");
      return;
    }
    for (const auto& other : claimed) {
      if (p.overlaps(other.prefix)) {
        diag.error(path, quoted(p.str()), "overlaps " + other.prefix.str() + " at " + other.path);
        return;
      }
    }
    claimed.push_back({p, path});
  };
  for (std::size_t i = 0; i < config.openvpn.size(); ++i) {
    const auto& instance = config.openvpn[i];
    if (!instance.subnet6) continue;
    const std::string path = at("/openvpn", i) + "/subnet6";
    const std::string value = quoted(instance.subnet6->str());
    if (instance.subnet6->length() < 64 || instance.subnet6->length() > 124) {
      diag.error(path, value,
                 "is not a pool OpenVPN can serve (server-ipv6 takes /64 to /124; give each "
                 "instance a /64 of the server's routed prefix)");
      continue;
    }
    if (!tinc.address6) {
      diag.error(path, value,
                 "needs /tinc/address6: the gateways route this pool back to this server's IPv6 "
                 "mesh address");
      continue;
    }
    pool(*instance.subnet6, path);
  }
  for (std::size_t i = 0; i < config.hosts.size(); ++i) {
    const auto& host = config.hosts[i];
    for (std::size_t j = 0; j < host.client_subnets6.size(); ++j) {
      const std::string path = at(at("/hosts", i) + "/client_subnets6", j);
      if (host.role != Role::kServer) {
        diag.error(path, quoted(host.client_subnets6[j].str()),
                   "belongs to a gateway; only servers have OpenVPN client subnets");
        continue;
      }
      pool(host.client_subnets6[j], path);
    }
  }
}

void checkPorts(const NodeConfig& config, Diagnostics& diag) {
  Claims ports;
  auto claim = [&](std::string_view proto, Port port, const std::string& path) {
    std::string key = std::string(proto) + "/" + std::to_string(port.value());
    if (auto earlier = ports.claim(key, path); !earlier.empty()) {
      diag.error(path, std::to_string(port.value()),
                 "is already used (" + std::string(proto) + ") by " + earlier);
    }
  };
  // tincd listens on both TCP and UDP.
  claim("tcp", config.tinc.port, "/tinc/port");
  claim("udp", config.tinc.port, "/tinc/port");
  claim("tcp", config.status.port, "/status/port");
  if (config.network) claim("tcp", config.network->port, "/network/port");
  // Nudges arrive on the same number over UDP (every node but the registry).
  if (config.network && !config.isRegistry()) claim("udp", config.network->port, "/network/port");
  if (config.isRegistry()) claim("tcp", config.network->join_port, "/network/join_port");
  for (std::size_t i = 0; i < config.openvpn.size(); ++i) {
    const auto& instance = config.openvpn[i];
    claim(toString(instance.proto), instance.port, at("/openvpn", i) + "/port");
  }
}

void checkSubnets(const NodeConfig& config, Diagnostics& diag) {
  struct Claimed {
    Cidr subnet;
    std::string path;
  };
  std::vector<Claimed> claimed = {{config.tinc.prefix, "/tinc/prefix"}};
  auto claim = [&](const Cidr& subnet, const std::string& path) {
    for (const auto& other : claimed) {
      if (subnet.overlaps(other.subnet)) {
        diag.error(path, quoted(subnet.str()),
                   "overlaps " + other.subnet.str() + " at " + other.path);
        return;
      }
    }
    claimed.push_back({subnet, path});
  };
  for (std::size_t i = 0; i < config.openvpn.size(); ++i) {
    claim(config.openvpn[i].subnet, at("/openvpn", i) + "/subnet");
  }
  for (std::size_t i = 0; i < config.hosts.size(); ++i) {
    const auto& host = config.hosts[i];
    for (std::size_t j = 0; j < host.client_subnets.size(); ++j) {
      std::string path = at(at("/hosts", i) + "/client_subnets", j);
      if (host.role != Role::kServer) {
        diag.error(path, quoted(host.client_subnets[j].str()),
                   "belongs to a gateway; only servers have OpenVPN client subnets");
        continue;
      }
      claim(host.client_subnets[j], path);
    }
  }
}

void checkOpenVpn(const NodeConfig& config, Diagnostics& diag) {
  if (config.role != Role::kServer && !config.openvpn.empty()) {
    diag.error("/openvpn", "", "is set on a gateway; only servers run OpenVPN instances");
  }
  Claims names;
  Claims interfaces;
  interfaces.claim(config.tinc.interface.str(), "/tinc/interface");
  for (std::size_t i = 0; i < config.openvpn.size(); ++i) {
    const auto& instance = config.openvpn[i];
    std::string path = at("/openvpn", i);
    if (auto earlier = names.claim(instance.name.str(), path + "/name"); !earlier.empty()) {
      diag.error(path + "/name", quoted(instance.name.str()), "is already used by " + earlier);
    }
    if (auto earlier = interfaces.claim(instance.interface.str(), path + "/interface");
        !earlier.empty()) {
      diag.error(path + "/interface", quoted(instance.interface.str()),
                 "is already used by " + earlier);
    }
    if (instance.kind == InstanceKind::kPrivate && instance.rate_limit) {
      diag.error(path + "/rate_limit", "",
                 "is set on a private instance; only public instances are rate-limited");
    }
    // One lost ping must not cost a session: the restart waits for at least two.
    if (instance.ping_restart_s < 2 * instance.ping_s) {
      diag.error(path + "/ping_restart_s", std::to_string(instance.ping_restart_s),
                 "is less than twice ping_s (" + std::to_string(instance.ping_s) +
                     "): one lost ping would make every client reconnect");
    }
    if (instance.subnet.length() > 29) {
      diag.error(path + "/subnet", quoted(instance.subnet.str()),
                 "is too small for OpenVPN clients (at most /29)");
    }
    // The limiter gives every client address its own class, made when the tun device comes up.
    if (instance.rate_limit && instance.subnet.length() < 24) {
      diag.error(path + "/subnet", quoted(instance.subnet.str()),
                 "is too large for a rate-limited instance (at least /24: one class per client "
                 "address)");
    }
  }
  for (std::size_t i = 0; i < config.hosts.size(); ++i) {
    const auto& host = config.hosts[i];
    Claims offered;
    for (std::size_t j = 0; j < host.openvpn.size(); ++j) {
      const auto& offer = host.openvpn[j];
      std::string path = at(at("/hosts", i) + "/openvpn", j) + "/name";
      if (host.role != Role::kServer) {
        diag.error(path, quoted(offer.name.str()),
                   "is offered by a gateway; only servers run OpenVPN instances");
      } else if (!host.public_endpoint) {
        diag.error(path, quoted(offer.name.str()),
                   "is offered by " + host.name.str() +
                       ", which has no public_address for client profiles to dial");
      } else if (auto earlier = offered.claim(offer.name.str(), path); !earlier.empty()) {
        diag.error(path, quoted(offer.name.str()), "is already offered at " + earlier);
      }
    }
  }
}

void checkRoutes(const NodeConfig& config, Diagnostics& diag) {
  Claims names;
  for (std::size_t i = 0; i < config.routes.size(); ++i) {
    const auto& set = config.routes[i];
    std::string path = at("/routes", i);
    if (auto earlier = names.claim(set.name.str(), path + "/name"); !earlier.empty()) {
      diag.error(path + "/name", quoted(set.name.str()), "is already used by " + earlier);
    }
    if (set.to.empty()) diag.error(path + "/to", "[]", "is empty (name at least one prefix)");
    if (set.via.empty() && set.all_gateways) {
      diag.warning(path + "/via", "\"all_gateways\"",
                   "names no gateway yet (none is known): its all_down policy applies until one "
                   "joins");
    } else if (set.via.empty() && set.removed_via.empty()) {
      diag.error(path + "/via", "[]", "is empty (name at least one gateway)");
    }
    for (std::size_t j = 0; j < set.to.size(); ++j) {
      const auto& to = set.to[j];
      if (to.overlaps(config.tinc.prefix) ||
          (config.tinc.prefix6 && to.overlaps(*config.tinc.prefix6))) {
        const std::string mesh = to.isV6() ? config.tinc.prefix6->str() + " at /tinc/prefix6"
                                           : config.tinc.prefix.str() + " at /tinc/prefix";
        diag.error(at(path + "/to", j), quoted(to.str()),
                   "overlaps the mesh prefix " + mesh +
                       " (routing it via a gateway would cut the mesh itself)");
      } else if (to.isV6() && !set.from.empty()) {
        diag.error(at(path + "/to", j), quoted(to.str()),
                   "is IPv6 in a set with \"from\" (IPv4 source subnets); put IPv6 destinations "
                   "in a set without \"from\"");
      } else if (to.isV6() && !config.tinc.address6) {
        diag.error(at(path + "/to", j), quoted(to.str()),
                   "is IPv6, and this node has no /tinc/address6 to route it from");
      } else if (to.isV6()) {
        // Every gateway named must have an IPv6 mesh address to be the next hop.
        std::string without;
        for (const auto& via : set.via) {
          const Host* host = config.findHost(via.gateway);
          if (host && host->role == Role::kGateway && !host->mesh_address6) {
            without += (without.empty() ? "" : ", ") + quoted(via.gateway.str()) + " (" +
                       hostPath(config, host) + ")";
          }
        }
        if (!without.empty() && !set.all_gateways) {
          diag.error(at(path + "/to", j), quoted(to.str()),
                     "is IPv6, and " + without + " in /routes/" + std::to_string(i) +
                         "/via has no mesh_address6 to route it through");
        }
      }
    }
    Claims gateways;
    for (std::size_t j = 0; j < set.via.size(); ++j) {
      const auto& via = set.via[j];
      std::string via_path = at(path + "/via", j) + "/gateway";
      if (auto earlier = gateways.claim(via.gateway.str(), via_path); !earlier.empty()) {
        diag.error(via_path, quoted(via.gateway.str()),
                   "is listed twice (also at " + earlier + ")");
        continue;
      }
      const Host* host = config.findHost(via.gateway);
      if (via.gateway == config.name) {
        diag.error(via_path, quoted(via.gateway.str()), "is this node itself");
      } else if (!host) {
        diag.error(via_path, quoted(via.gateway.str()), notAKnownHost(config));
      } else if (host->role != Role::kGateway) {
        diag.error(via_path, quoted(via.gateway.str()),
                   "is a " + std::string(toString(host->role)) +
                       ", not a gateway (set its role to \"gateway\" at " + hostPath(config, host) +
                       "/role)");
      }
    }
  }
}

void checkHealth(const NodeConfig& config, Diagnostics& diag) {
  const auto& health = config.health;
  if (health.timeout_ms > health.interval_ms * health.down_after) {
    diag.error("/health/timeout_ms", std::to_string(health.timeout_ms),
               "is longer than interval_ms x down_after (" +
                   std::to_string(health.interval_ms * health.down_after) +
                   " ms): a gateway could never be declared down in time");
  }
  if (health.burst >= health.down_after) {
    diag.warning("/health/burst", std::to_string(health.burst),
                 "is not below down_after (" + std::to_string(health.down_after) + "): only " +
                     std::to_string(health.down_after - 1) +
                     " re-probes are needed to declare a gateway down");
  }
  if (health.flap_hold_max_ms < health.flap_hold_ms) {
    diag.error("/health/flap_hold_max_ms", std::to_string(health.flap_hold_max_ms),
               "is smaller than flap_hold_ms (" + std::to_string(health.flap_hold_ms) + ")");
  }
  // A through target is probed beyond the gateways: it should be inside a route set's "to".
  auto beyondAGateway = [&](const std::string& path, const IpAddress& target) {
    bool routed = false;
    for (const auto& set : config.routes) {
      for (const auto& to : set.to) routed = routed || to.contains(target);
    }
    if (!routed) {
      diag.warning(path, quoted(target.str()),
                   "is not inside any route set's \"to\" prefixes, so it is not beyond a gateway");
    }
  };
  if (health.through_target6 && !config.tinc.address6) {
    diag.error("/health/through_target6", quoted(health.through_target6->str()),
               "is IPv6, and this node has no /tinc/address6 to probe it from");
  } else if (health.through_target6) {
    beyondAGateway("/health/through_target6", *health.through_target6);
  }
  if (health.through_target) beyondAGateway("/health/through_target", *health.through_target);
}

// What gives up the mesh's secrecy or isolation: an error, or with "insecure": true a warning
// (the operator accepted it in writing). Everything crosses the Internet and volunteers'
// routers, so the seed's "encrypted, authenticated" promise rests on these three values.
void checkTincSecurity(const NodeConfig& config, Diagnostics& diag) {
  const auto& tinc = config.tinc;
  struct Weakness {
    std::string path;
    std::string value;
    std::string why;
  };
  std::vector<Weakness> found;
  if (tinc.cipher == "none") {
    found.push_back({"/tinc/cipher", tinc.cipher,
                     "disables encryption: every mesh packet crosses the Internet in clear"});
  } else if (tinc.cipher == "bf-cbc") {
    found.push_back({"/tinc/cipher", tinc.cipher,
                     "is Blowfish, a 64-bit block cipher: blocks collide after a few GB under "
                     "one key (Sweet32); use aes-256-cbc"});
  }
  if (tinc.digest == "none") {
    found.push_back({"/tinc/digest", tinc.digest,
                     "disables packet authentication: anyone on the path can forge or alter "
                     "mesh packets"});
  } else if (tinc.digest == "sha1") {
    found.push_back({"/tinc/digest", tinc.digest,
                     "is deprecated (SHA-1 collisions are practical; HMAC-SHA1 still holds, but "
                     "nothing is gained over sha256); use sha256"});
  }
  if (tinc.mode == TincMode::kHub) {
    found.push_back({"/tinc/mode", "hub",
                     "sends every frame to every node, so any gateway router reads all mesh "
                     "traffic; use switch (each node's MAC pinned, StrictSubnets)"});
  }
  for (const auto& weak : found) {
    if (tinc.insecure) {
      diag.warning(weak.path, quoted(weak.value),
                   weak.why + " (accepted: \"insecure\": true in /tinc)");
    } else {
      diag.error(weak.path, quoted(weak.value),
                 weak.why + " (or set \"insecure\": true in /tinc to accept it anyway)");
    }
  }
  if (tinc.insecure && found.empty()) {
    diag.warning("/tinc/insecure", "true",
                 "is set but nothing needs it (cipher, digest and mode are all safe)");
  }
}

void checkKeys(const NodeConfig& config, Diagnostics& diag) {
  if (!config.tinc.public_key) {
    diag.warning("/tinc/public_key_file", quoted(config.tinc.public_key_file.string()),
                 "does not exist yet (run: meshbroker keygen -c FILE)");
  }
  // A peer's key problems are the loader's warnings (config/loader.cpp, readKeySource): they
  // drop that peer and never refuse the config.
}

// The status listener must not sit where anonymous users are routed: a public instance's
// clients get its subnet (the server's own tun address), the mesh prefix and the route sets
// that apply to them (the same list templates/renderer.cpp pushes).
void checkStatusListener(const NodeConfig& config, Diagnostics& diag) {
  const auto& status = config.status;
  if (!status.enabled || status.allow_public_clients) return;
  std::string listen = status.listen;
  if (listen.starts_with("::ffff:") && listen.find('.') != std::string::npos) {
    listen = listen.substr(7);  // an IPv4-mapped IPv6 address binds the IPv4 one
  }
  const auto address = Ipv4Address::parse(listen, nullptr);
  const bool wildcard = listen == "0.0.0.0" || listen == "::";
  const std::string hint =
      ": anonymous users could read the status page. Listen on loopback or an address they are "
      "not routed to, or set /status/allow_public_clients to true";
  // IPv6: a public instance with an IPv6 pool pushes it and the IPv6 mesh prefix.
  if (const auto address6 = Ipv6Address::parse(listen, nullptr); address6 && !wildcard) {
    for (std::size_t i = 0; i < config.openvpn.size(); ++i) {
      const auto& instance = config.openvpn[i];
      if (instance.kind != InstanceKind::kPublic || !instance.subnet6) continue;
      std::vector<Cidr6> pushed6 = {*instance.subnet6};
      if (config.tinc.prefix6) pushed6.push_back(*config.tinc.prefix6);
      for (const auto& set : config.routes) {
        for (const auto& to : set.to) {
          if (to.v6() && set.from.empty()) pushed6.push_back(*to.v6());
        }
      }
      for (const auto& pushed : pushed6) {
        if (pushed.contains(*address6)) {
          diag.error("/status/listen", quoted(status.listen),
                     "is inside " + pushed.str() +
                         ", which OpenVPN routes to the public "
                         "clients of " +
                         at("/openvpn", i) + " (" + quoted(instance.name.str()) + ")" + hint);
          return;
        }
      }
    }
    return;
  }
  if (!address && !wildcard) return;
  if (address && (address->value() >> 24) == 127) return;
  for (std::size_t i = 0; i < config.openvpn.size(); ++i) {
    const auto& instance = config.openvpn[i];
    if (instance.kind != InstanceKind::kPublic) continue;
    const std::string owner =
        "the public clients of " + at("/openvpn", i) + " (" + quoted(instance.name.str()) + ")";
    if (wildcard) {
      diag.error("/status/listen", quoted(status.listen),
                 "listens on every address, including " + instance.subnet.str() +
                     " and the mesh prefix " + config.tinc.prefix.str() + ", which reach " + owner +
                     hint);
      return;
    }
    std::vector<Cidr> pushed = {instance.subnet, config.tinc.prefix};
    for (const auto& set : config.routes) {
      bool applies = set.from.empty();
      for (const auto& from : set.from) applies = applies || from.overlaps(instance.subnet);
      for (const auto& to : set.to) {
        if (applies && to.v4()) pushed.push_back(*to.v4());
      }
    }
    for (const auto& subnet : pushed) {
      if (subnet.contains(*address)) {
        diag.error("/status/listen", quoted(status.listen),
                   "is inside " + subnet.str() + ", which OpenVPN routes to " + owner + hint);
        return;
      }
    }
  }
}

// The registry is a server this node knows (or this node itself), so there is someone to
// sign the document and somewhere to pull it from.
void checkNetwork(const NodeConfig& config, Diagnostics& diag) {
  if (!config.network) return;
  const auto& registry = config.network->registry;
  if (registry == config.name) {
    if (config.role != Role::kServer) {
      diag.error("/network/registry", "\"" + registry.str() + "\"",
                 "is this node, a gateway: the registry must be a server");
    }
    return;
  }
  const Host* host = config.findHost(registry);
  if (!host) {
    diag.error("/network/registry", "\"" + registry.str() + "\"",
               "is neither this node nor one of its hosts");
  } else if (host->role != Role::kServer) {
    diag.error("/network/registry", "\"" + registry.str() + "\"",
               "is a gateway: the registry must be a server");
  }
}

}  // namespace

void validate(const NodeConfig& config, Diagnostics& diag) {
  checkNetwork(config, diag);
  checkNames(config, diag);
  checkConnectTo(config, diag);
  checkMeshAddresses(config, diag);
  checkIpv6(config, diag);
  checkPorts(config, diag);
  checkSubnets(config, diag);
  checkOpenVpn(config, diag);
  checkRoutes(config, diag);
  checkHealth(config, diag);
  checkTincSecurity(config, diag);
  checkKeys(config, diag);
  checkStatusListener(config, diag);
}

}  // namespace meshbroker::config
