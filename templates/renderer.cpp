// Builds mustache data from the model and renders the embedded templates.
#include "templates/renderer.hpp"

#include <algorithm>
#include <kainjow/mustache.hpp>

#include "config/types.hpp"
#include "model/pki_layout.hpp"
#include "model/runtime_layout.hpp"
#include "routing/static_routes.hpp"
#include "templates/embedded.hpp"

namespace meshbroker::templates {
namespace {

namespace mustache = kainjow::mustache;
using config::NodeConfig;

constexpr std::string_view kMacLength = "16";

// The one place every value passes on its way into a file: a value holding a control character
// (a newline above all) would add a line, so it stops the rendering instead.
std::string checkedValue(const std::string& value) {
  if (auto pos = config::findControlCharacter(value)) {
    throw RenderError("refusing to render a value with a control character at offset " +
                      std::to_string(*pos));
  }
  return value;
}

std::string render(std::string_view name, const mustache::data& data) {
  const auto& all = embeddedTemplates();
  auto it = all.find(name);
  if (it == all.end()) throw RenderError("no template named " + std::string(name));
  mustache::mustache tmpl(it->second);
  if (!tmpl.is_valid()) {
    throw RenderError("template " + std::string(name) + " is broken: " + tmpl.error_message());
  }
  tmpl.set_custom_escape(checkedValue);
  return tmpl.render(data);
}

mustache::data listOf(const std::vector<std::string>& items) {
  mustache::data list(mustache::data::type::list);
  for (const auto& item : items) list.push_back(mustache::data(item));
  return list;
}

std::vector<std::string> keyLines(const std::optional<config::PublicKeyPem>& key) {
  std::vector<std::string> lines;
  if (!key) return lines;
  const std::string& text = key->str();
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

struct HostView {
  const config::NodeName& name;
  const std::optional<config::PublicEndpoint>& endpoint;
  config::Port port;
  config::Ipv4Address mesh_address;
  const std::optional<config::Ipv6Address>& mesh_address6;
  const std::vector<config::Cidr>& client_subnets;
  const std::vector<config::Cidr6>& client_subnets6;
  const std::optional<config::PublicKeyPem>& key;
};

RenderedFile renderHost(const NodeConfig& node, const HostView& host) {
  mustache::data data;
  data.set("name", host.name.str());
  if (host.endpoint) data.set("address", host.endpoint->address.str());
  data.set("port", std::to_string(host.port.value()));
  data.set("compression", std::to_string(node.tinc.compression));
  data.set("cipher", node.tinc.cipher);
  data.set("digest", node.tinc.digest);
  // 16 bytes of HMAC per packet, not tinc 1.0's 4 (a forgery is a 2^-32 guess there). tincd
  // reads it from its own host file; without a digest there is no MAC to size.
  if (node.tinc.digest != "none") data.set("mac_length", std::string(kMacLength));
  // With StrictSubnets these lines are all a node may own. Router mode forwards by address;
  // switch and hub by MAC, and each node has exactly one: the tap's, fixed by its mesh address
  // (meshMac, set by tinc-up). A frame for any other MAC is flooded to every node.
  std::vector<std::string> subnets;
  if (node.tinc.mode == config::TincMode::kRouter) {
    subnets.push_back(host.mesh_address.str() + "/32");
    for (const auto& subnet : host.client_subnets) subnets.push_back(subnet.str());
    if (host.mesh_address6) subnets.push_back(host.mesh_address6->str() + "/128");
    for (const auto& subnet : host.client_subnets6) subnets.push_back(subnet.str());
  } else {
    subnets.push_back(routing::meshMac(host.mesh_address));
  }
  data.set("subnets", listOf(subnets));
  data.set("key_lines", listOf(keyLines(host.key)));
  return {"tinc/hosts/" + host.name.str(), render("tinc/host.mustache", data), 0644};
}

mustache::data scriptData(const NodeConfig& node, const RenderOptions& options) {
  mustache::data data;
  data.set("meshbroker", shellQuote(options.meshbroker_binary.string()));
  data.set("runtime_dir", shellQuote(node.paths.runtime_dir.string()));
  return data;
}

// PEM or key text as lines: each line passes the control-character check on its own.
std::vector<std::string> textLines(const std::string& text) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

mustache::data routeItem(const config::Cidr& cidr) {
  mustache::data item;
  item.set("network", cidr.network().str());
  item.set("netmask", cidr.netmask());
  return item;
}

RenderedFile renderInstance(const NodeConfig& node, const config::OpenVpnInstance& instance) {
  model::PkiLayout pki{node.paths.pki_dir};
  std::string server = model::serverCertName(node.name.str(), instance.name.str());
  mustache::data data;
  data.set("node", node.name.str());
  data.set("name", instance.name.str());
  data.set("kind", std::string(config::toString(instance.kind)));
  data.set("subnet", instance.subnet.str());
  data.set("proto", instance.proto == config::Proto::kUdp ? "udp" : "tcp-server");
  data.set("udp", instance.proto == config::Proto::kUdp);
  data.set("tcp", instance.proto == config::Proto::kTcp);
  data.set("port", std::to_string(instance.port.value()));
  data.set("interface", instance.interface.str());
  data.set("network", instance.subnet.network().str());
  data.set("netmask", instance.subnet.netmask());
  // Clients reach the mesh and every route set that applies to their subnet.
  mustache::data routes(mustache::data::type::list);
  routes.push_back(routeItem(node.tinc.prefix));
  std::vector<config::Cidr> pushed;
  for (const auto& set : node.routes) {
    bool applies = set.from.empty();
    for (const auto& from : set.from) applies = applies || from.overlaps(instance.subnet);
    if (!applies) continue;
    for (const auto& prefix : set.to) {
      const auto* to = prefix.v4();
      if (!to || std::find(pushed.begin(), pushed.end(), *to) != pushed.end()) continue;
      pushed.push_back(*to);
      routes.push_back(routeItem(*to));
    }
  }
  data.set("push_routes", routes);
  // IPv6 (issue 21): the instance's pool and the mesh's IPv6 prefix. Validation makes a pool
  // need the node's IPv6 mesh address (the gateways route the pool back to it).
  // Route sets' IPv6 destinations go to clients that have an IPv6 address (route sets with
  // "from" are IPv4 source subnets: they apply to IPv4 only).
  std::vector<std::string> routes6;
  if (instance.subnet6) {
    data.set("subnet6", instance.subnet6->str());
    if (node.tinc.prefix6) routes6.push_back(node.tinc.prefix6->str());
    for (const auto& set : node.routes) {
      if (!set.from.empty()) continue;
      for (const auto& to : set.to) {
        if (to.v6() && std::find(routes6.begin(), routes6.end(), to.str()) == routes6.end()) {
          routes6.push_back(to.str());
        }
      }
    }
  }
  data.set("push_routes6", listOf(routes6));
  // Clients are verified against this instance's trust and CRL files only: a certificate of
  // another instance (or the public one's shared certificate) has an issuer it does not trust.
  data.set("ca", pki.instanceTrust(instance.name.str()).string());
  data.set("cert", pki.serverCert(server).string());
  data.set("key", pki.serverKey(server).string());
  data.set("crl", pki.instanceCrl(instance.name.str()).string());
  data.set("tls_crypt", pki.tlsCryptKey(instance.name.str()).string());
  data.set("duplicate_cn", instance.kind == config::InstanceKind::kPublic);
  data.set("ping", std::to_string(instance.ping_s));
  data.set("ping_restart", std::to_string(instance.ping_restart_s));
  data.set("has_max_clients", instance.max_clients > 0);
  data.set("max_clients", std::to_string(instance.max_clients));
  data.set("management", managementSocket(node, instance).string());
  data.set("status", statusFile(node, instance).string());
  // A private instance with a quota: users over it get a file holding "disable" here
  // (supervisor/quota_keeper). A public one's users share a certificate: refused by address.
  const bool ccd = instance.quota && instance.kind == config::InstanceKind::kPrivate;
  data.set("has_ccd", ccd);
  data.set("ccd",
           model::StateLayout{node.paths.state_dir}.openvpnCcd(instance.name.str()).string());
  // openvpn drops root once its tun device is up; the user's group has the user's name.
  const bool drop = node.supervisor.openvpn_user != "root";
  data.set("drop_root", drop);
  data.set("user", node.supervisor.openvpn_user);
  return {"openvpn/" + instance.name.str() + ".conf", render("openvpn/server.conf.mustache", data),
          0644};
}

}  // namespace

std::filesystem::path managementSocket(const NodeConfig& node,
                                       const config::OpenVpnInstance& instance) {
  return model::RuntimeLayout{node.paths.runtime_dir}.openVpnManagement(instance.name.str());
}

std::filesystem::path statusFile(const NodeConfig& node, const config::OpenVpnInstance& instance) {
  return node.paths.runtime_dir / ("openvpn-" + instance.name.str() + ".status");
}

std::vector<RenderedFile> renderOpenVpn(const NodeConfig& node) {
  std::vector<RenderedFile> files;
  for (const auto& instance : node.openvpn) files.push_back(renderInstance(node, instance));
  return files;
}

std::vector<ProfileRemote> profileRemotes(const NodeConfig& node, const config::NodeName& name) {
  std::vector<ProfileRemote> remotes;
  if (node.tinc.public_endpoint) {
    for (const auto& instance : node.openvpn) {
      if (instance.name == name) {
        remotes.push_back(
            {node.tinc.public_endpoint->address.str(), instance.port, instance.proto});
      }
    }
  }
  for (const auto& host : node.hosts) {
    if (host.role != config::Role::kServer || !host.public_endpoint) continue;
    for (const auto& offer : host.openvpn) {
      if (offer.name == name) {
        remotes.push_back({host.public_endpoint->address.str(), offer.port, offer.proto});
      }
    }
  }
  return remotes;
}

std::string renderClientProfile(const NodeConfig& node, const config::NodeName& instance,
                                config::InstanceKind kind, const std::string& client_name,
                                const ProfileSecrets& secrets) {
  auto remotes = profileRemotes(node, instance);
  if (remotes.empty()) {
    throw RenderError("no server offers OpenVPN instance \"" + instance.str() +
                      "\" with a public address (this node's tinc.public_address, or a "
                      "server in hosts with \"openvpn\": [{\"name\": \"" +
                      instance.str() + "\", ...}])");
  }
  mustache::data data;
  data.set("client", client_name);
  data.set("instance", instance.str());
  data.set("kind", std::string(config::toString(kind)));
  mustache::data list(mustache::data::type::list);
  for (const auto& remote : remotes) {
    mustache::data item;
    item.set("host", remote.host);
    item.set("port", std::to_string(remote.port.value()));
    item.set("proto", std::string(config::toString(remote.proto)));
    list.push_back(item);
  }
  data.set("remotes", list);
  data.set("ca", listOf(textLines(secrets.ca_pem)));
  data.set("cert", listOf(textLines(secrets.cert_pem)));
  data.set("key", listOf(textLines(secrets.key_pem)));
  data.set("tls_crypt", listOf(textLines(secrets.tls_crypt_key)));
  return render("openvpn/client.ovpn.mustache", data);
}

std::string shellQuote(std::string_view text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  out += "'";
  return out;
}

std::vector<RenderedFile> renderNode(const NodeConfig& node, const RenderOptions& options) {
  std::vector<RenderedFile> files;
  const auto& tinc = node.tinc;

  mustache::data conf;
  conf.set("name", node.name.str());
  conf.set("mode", std::string(config::toString(tinc.mode)));
  conf.set("interface", tinc.interface.str());
  conf.set("private_key_file", tinc.private_key_file.string());
  std::vector<std::string> connect_to;
  for (const auto& target : tinc.connect_to) connect_to.push_back(target.str());
  conf.set("connect_to", listOf(connect_to));
  files.push_back({"tinc/tinc.conf", render("tinc/tinc.conf.mustache", conf), 0644});

  // This node's own host file is the one peers need: keygen prints the same text.
  std::vector<config::Cidr> own_subnets;
  std::vector<config::Cidr6> own_subnets6;
  for (const auto& instance : node.openvpn) {
    own_subnets.push_back(instance.subnet);
    if (instance.subnet6) own_subnets6.push_back(*instance.subnet6);
  }
  files.push_back(renderHost(node, {node.name, tinc.public_endpoint, tinc.port, tinc.address,
                                    tinc.address6, own_subnets, own_subnets6, tinc.public_key}));
  for (const auto& host : node.hosts) {
    config::Port port = host.public_endpoint ? host.public_endpoint->port : tinc.port;
    files.push_back(renderHost(
        node, {host.name, host.public_endpoint, port, host.mesh_address, host.mesh_address6,
               host.client_subnets, host.client_subnets6, host.public_key}));
  }

  mustache::data up = scriptData(node, options);
  up.set("address", tinc.address.str());
  up.set("prefix_length", std::to_string(tinc.prefix.length()));
  if (tinc.address6 && tinc.prefix6) {
    up.set("address6", tinc.address6->str() + "/" + std::to_string(tinc.prefix6->length()));
  }
  // Every host's mesh addresses pinned to its mesh MAC (routing::meshNeighbours): no ARP reply
  // or neighbour advertisement can move them. The daemon keeps the same list over netlink
  // after a reload (supervisor/reload_plan leaves these lines out), so no tincd restarts.
  mustache::data neighbours(mustache::data::type::list);
  mustache::data neighbours6(mustache::data::type::list);
  if (tinc.mode != config::TincMode::kRouter) {
    up.set("mac", routing::meshMac(tinc.address));
    for (const auto& neighbour : routing::meshNeighbours(node)) {
      mustache::data item;
      item.set("address", neighbour.address.str());
      item.set("mac", neighbour.mac);
      (neighbour.address.isV6() ? neighbours6 : neighbours).push_back(item);
    }
  }
  up.set("neighbours", neighbours);
  up.set("neighbours6", neighbours6);
  auto routes_back = [&node](const auto& routes) {
    mustache::data list(mustache::data::type::list);
    for (const auto& route : routes) {
      mustache::data item;
      item.set("to", route.to.str());
      item.set("via", route.via.str());
      item.set("protocol", std::to_string(node.routing.protocol));
      list.push_back(item);
    }
    return list;
  };
  up.set("routes_back", routes_back(routing::routesBackToClients(node)));
  up.set("routes_back6", routes_back(routing::routesBackToClients6(node)));
  files.push_back({"tinc/tinc-up", render("tinc/tinc-up.mustache", up), 0755});
  files.push_back(
      {"tinc/tinc-down", render("tinc/tinc-down.mustache", scriptData(node, options)), 0755});

  // Not subnet-up/subnet-down: the daemon has no use for them, and each script is a process
  // tincd starts for every subnet of every node that comes or goes.
  for (const char* event : {"host-up", "host-down"}) {
    mustache::data data = scriptData(node, options);
    data.set("event", std::string(event));
    files.push_back({std::string("tinc/") + event, render("tinc/event.mustache", data), 0755});
  }

  if (node.role == config::Role::kServer) {
    for (auto& file : renderOpenVpn(node)) files.push_back(std::move(file));
  }

  std::sort(files.begin(), files.end(),
            [](const RenderedFile& a, const RenderedFile& b) { return a.path < b.path; });
  return files;
}

}  // namespace meshbroker::templates
