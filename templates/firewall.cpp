#include "templates/firewall.hpp"

#include <arpa/inet.h>

#include <sstream>

namespace meshbroker::templates {

namespace {

using config::OpenVpnInstance;
using config::Proto;

std::string quoted(const std::string& word) { return "\"" + word + "\""; }

// Sets that remember sources: one per family, instance and cap.
void declareSets(std::ostream& out, const OpenVpnInstance& instance) {
  const std::string name = instance.name.str();
  for (const char* family : {"4", "6"}) {
    const char* type = family[0] == '4' ? "ipv4_addr" : "ipv6_addr";
    if (instance.per_source_new_per_minute > 0) {
      // A source is forgotten 2 minutes after its last new connection.
      out << "\tset " << name << "_new" << family << " {\n\t\ttype " << type
          << "\n\t\tsize 65536\n\t\tflags dynamic,timeout\n\t\ttimeout 2m\n\t}\n";
    }
    if (instance.per_source_connections > 0) {
      out << "\tset " << name << "_conns" << family << " {\n\t\ttype " << type
          << "\n\t\tsize 65536\n\t\tflags dynamic\n\t}\n";
    }
  }
}

// New connections to the instance's port beyond the caps are dropped (and counted).
void capRules(std::ostream& out, const OpenVpnInstance& instance) {
  const std::string name = instance.name.str();
  const std::string match = std::string(instance.proto == Proto::kUdp ? "udp" : "tcp") + " dport " +
                            std::to_string(instance.port.value()) + " ct state new";
  for (const char* family : {"4", "6"}) {
    const std::string source = family[0] == '4' ? "ip saddr" : "ip6 saddr";
    if (instance.per_source_new_per_minute > 0) {
      const auto rate = std::to_string(instance.per_source_new_per_minute);
      out << "\t\t" << match << " add @" << name << "_new" << family << " { " << source
          << " limit rate over " << rate << "/minute burst " << rate << " packets }"
          << " counter name " << name << "_rate_dropped drop\n";
    }
    if (instance.per_source_connections > 0) {
      out << "\t\t" << match << " add @" << name << "_conns" << family << " { " << source
          << " ct count over " << instance.per_source_connections << " }"
          << " counter name " << name << "_count_dropped drop\n";
    }
  }
}

bool hasQuotaSet(const OpenVpnInstance& instance) {
  return instance.quota && instance.kind == config::InstanceKind::kPublic;
}

// The address in nft's canonical text, or "" when it is not one (family 4 or 6).
std::string canonical(const std::string& text, int family) {
  unsigned char raw[16];
  char out[INET6_ADDRSTRLEN];
  if (inet_pton(family, text.c_str(), raw) != 1) return "";
  if (!inet_ntop(family, raw, out, sizeof out)) return "";
  return out;
}

// The addresses over the quota of one public instance, per family.
void declareQuotaSets(std::ostream& out, const OpenVpnInstance& instance,
                      const std::vector<std::string>& blocked) {
  const std::string name = instance.name.str();
  for (int family : {AF_INET, AF_INET6}) {
    std::string elements;
    for (const auto& address : blocked) {
      auto text = canonical(address, family);
      if (!text.empty()) elements += (elements.empty() ? "" : ", ") + text;
    }
    out << "\tset " << name << "_quota" << (family == AF_INET ? "4" : "6") << " {\n\t\ttype "
        << (family == AF_INET ? "ipv4_addr" : "ipv6_addr") << "\n";
    if (!elements.empty()) out << "\t\telements = { " << elements << " }\n";
    out << "\t}\n";
  }
  out << "\tcounter " << name << "_quota_dropped {\n\t}\n";
}

void quotaRules(std::ostream& out, const OpenVpnInstance& instance) {
  if (!hasQuotaSet(instance)) return;
  const std::string name = instance.name.str();
  const std::string match = std::string(instance.proto == Proto::kUdp ? "udp" : "tcp") + " dport " +
                            std::to_string(instance.port.value());
  out << "\t\t" << match << " ip saddr @" << name << "_quota4 counter name " << name
      << "_quota_dropped drop\n";
  out << "\t\t" << match << " ip6 saddr @" << name << "_quota6 counter name " << name
      << "_quota_dropped drop\n";
}

}  // namespace

std::string renderFirewall(const config::NodeConfig& node, const QuotaBlocked& quota_blocked) {
  if (node.openvpn.empty()) return "";
  std::ostringstream out;
  out << "# Rendered by meshbroker for " << node.name.str()
      << ": its own table only, replaced whole.\n";
  out << "table " << kFirewallTable << "\n";
  out << "delete table " << kFirewallTable << "\n";
  out << "table " << kFirewallTable << " {\n";
  bool any_cap = false;
  for (const auto& instance : node.openvpn) {
    if (instance.per_source_new_per_minute > 0) {
      out << "\tcounter " << instance.name.str() << "_rate_dropped {\n\t}\n";
    }
    if (instance.per_source_connections > 0) {
      out << "\tcounter " << instance.name.str() << "_count_dropped {\n\t}\n";
    }
    any_cap = any_cap || instance.per_source_new_per_minute > 0 ||
              instance.per_source_connections > 0 || hasQuotaSet(instance);
    declareSets(out, instance);
    if (hasQuotaSet(instance)) {
      auto blocked = quota_blocked.find(instance.name.str());
      declareQuotaSets(
          out, instance,
          blocked == quota_blocked.end() ? std::vector<std::string>{} : blocked->second);
    }
  }
  if (any_cap) {
    out << "\tchain input {\n\t\ttype filter hook input priority filter; policy accept;\n";
    // Over the quota first: such an address gets nothing, not even a new connection's count.
    for (const auto& instance : node.openvpn) quotaRules(out, instance);
    for (const auto& instance : node.openvpn) capRules(out, instance);
    out << "\t}\n";
  }
  if (node.routing.forward_filter) {
    const std::string mesh = quoted(node.tinc.interface.str());
    std::string tuns;
    for (const auto& instance : node.openvpn) {
      tuns += (tuns.empty() ? "" : ", ") + quoted(instance.interface.str());
    }
    out << "\tcounter forward_dropped {\n\t}\n";
    out << "\tchain forward {\n\t\ttype filter hook forward priority filter; policy accept;\n";
    out << "\t\t# What the design routes: each client subnet to and from the mesh.\n";
    for (const auto& instance : node.openvpn) {
      const std::string tun = quoted(instance.interface.str());
      const std::string subnet = instance.subnet.str();
      out << "\t\tiifname " << tun << " oifname " << mesh << " ip saddr " << subnet << " accept\n";
      out << "\t\tiifname " << mesh << " oifname " << tun << " ip daddr " << subnet << " accept\n";
      if (instance.subnet6) {
        const std::string subnet6 = instance.subnet6->str();
        out << "\t\tiifname " << tun << " oifname " << mesh << " ip6 saddr " << subnet6
            << " accept\n";
        out << "\t\tiifname " << mesh << " oifname " << tun << " ip6 daddr " << subnet6
            << " accept\n";
      }
    }
    out << "\t\t# Nothing else in or out of a client tunnel (another instance's clients, this\n"
           "\t\t# server's uplink, a spoofed source), and nothing from elsewhere into the mesh.\n";
    out << "\t\tiifname { " << tuns << " } counter name forward_dropped drop\n";
    out << "\t\toifname { " << tuns << " } counter name forward_dropped drop\n";
    out << "\t\tiifname != " << mesh << " oifname " << mesh
        << " counter name forward_dropped drop\n";
    out << "\t}\n";
  }
  out << "}\n";
  return out.str();
}

std::string removeFirewall() {
  return std::string("table ") + kFirewallTable + "\ndelete table " + kFirewallTable + "\n";
}

}  // namespace meshbroker::templates
