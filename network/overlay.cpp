#include "network/overlay.hpp"

#include <algorithm>

#include "config/diagnostics.hpp"
#include "config/validate.hpp"

namespace meshbroker::network {
namespace {

constexpr int kTincPort = 655;  // tinc's own default, for a public address without a port

// A host from a document node (its fields were checked by parseDocument: each parse succeeds;
// a failure is reported rather than assumed).
// `ipv6`: this node has an IPv6 mesh prefix; without one a host's IPv6 fields are of no use
// to it (and could not be checked), so they are left out.
std::optional<config::Host> hostOf(const model::NetworkNode& node, bool ipv6, std::string& why) {
  auto name = config::NodeName::parse(node.name, &why);
  auto address = config::Ipv4Address::parse(node.mesh_address, &why);
  auto key = config::PublicKeyPem::parse(node.tinc_public_key, &why);
  if (!name || !address || !key) return std::nullopt;
  const auto role = node.role == "gateway" ? config::Role::kGateway : config::Role::kServer;
  config::Host host{.name = *name,
                    .role = role,
                    .mesh_address = *address,
                    .mesh_address6 = std::nullopt,
                    .public_endpoint = std::nullopt,
                    .public_key = *key,
                    .public_key_file = std::nullopt,
                    .client_subnets = {},
                    .client_subnets6 = {},
                    .openvpn = {}};
  if (node.public_address) {
    auto endpoint = config::HostAddress::parse(*node.public_address, &why);
    auto port = config::Port::fromInt(node.port.value_or(kTincPort), &why);
    if (!endpoint || !port) return std::nullopt;
    host.public_endpoint = config::PublicEndpoint{*endpoint, *port};
  }
  for (const auto& text : node.client_subnets) {
    auto subnet = config::Cidr::parse(text, &why);
    if (!subnet) return std::nullopt;
    host.client_subnets.push_back(*subnet);
  }
  if (ipv6 && node.mesh_address6) {
    auto address6 = config::Ipv6Address::parse(*node.mesh_address6, &why);
    if (!address6) return std::nullopt;
    host.mesh_address6 = *address6;
  }
  for (const auto& text : ipv6 ? node.client_subnets6 : std::vector<std::string>{}) {
    auto subnet = config::Cidr6::parse(text, &why);
    if (!subnet) return std::nullopt;
    host.client_subnets6.push_back(*subnet);
  }
  for (const auto& offer : node.openvpn) {
    auto instance = config::NodeName::parse(offer.name, &why);
    auto port = config::Port::fromInt(offer.port, &why);
    if (!instance || !port) return std::nullopt;
    host.openvpn.push_back(config::OfferedInstance{
        *instance, *port, offer.proto == "tcp" ? config::Proto::kTcp : config::Proto::kUdp});
  }
  return host;
}

bool removedIn(const model::NetworkDocument& document, const std::string& name) {
  return std::binary_search(document.removed.begin(), document.removed.end(), name);
}

}  // namespace

Overlaid overlay(const config::NodeConfig& file, const model::NetworkDocument& document) {
  Overlaid out{file, {}, {}, {}};
  std::erase_if(out.config.hosts, [&](const config::Host& host) {
    if (!removedIn(document, host.name.str())) return false;
    out.dropped.push_back(host.name.str());
    return true;
  });
  for (auto& set : out.config.routes) {
    std::erase_if(set.via, [&](const config::RouteVia& via) {
      if (!removedIn(document, via.gateway.str())) return false;
      set.removed_via.push_back(via.gateway.str());
      return true;
    });
  }
  for (const auto& node : document.nodes) {
    if (node.name == file.name.str()) continue;
    auto named = std::find_if(out.config.hosts.begin(), out.config.hosts.end(),
                              [&](const config::Host& h) { return h.name.str() == node.name; });
    if (named != out.config.hosts.end() && !named->from_network) continue;  // the file wins
    std::string why;
    auto host = hostOf(node, file.tinc.prefix6.has_value(), why);
    if (!host) {
      out.errors.push_back("node " + node.name + ": " + why);
      continue;
    }
    if (named != out.config.hosts.end()) {
      host->from_network = true;
      *named = std::move(*host);  // written by join: the document's entry is the truth
      continue;
    }
    out.config.hosts.push_back(std::move(*host));
    out.added.push_back(node.name);
  }
  config::resolveAllGateways(out.config);
  config::Diagnostics diag;
  config::validate(out.config, diag);
  for (const auto& problem : diag.all()) {
    if (problem.severity == config::Diagnostic::Severity::kError) {
      out.errors.push_back(problem.str());
    }
  }
  if (!out.errors.empty()) {
    out.config = file;
    out.added.clear();
    out.dropped.clear();
  }
  return out;
}

}  // namespace meshbroker::network
