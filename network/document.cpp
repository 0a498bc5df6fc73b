#include "network/document.hpp"

#include <algorithm>
#include <set>

#include "config/types.hpp"

namespace meshbroker::network {
namespace {

using nlohmann::json;

struct Invalid {
  std::string message;
};

[[noreturn]] void fail(const std::string& where, const std::string& what) {
  throw Invalid{where + ": " + what};
}

const json& field(const json& object, const std::string& where, const char* key) {
  auto it = object.find(key);
  if (it == object.end()) fail(where.empty() ? key : where + "." + key, "missing");
  return *it;
}

// Text; `lines` lets a PEM through with its line breaks (its own parser checks each line).
std::string text(const json& value, const std::string& where, std::size_t max = 256,
                 bool lines = false) {
  if (!value.is_string()) fail(where, std::string("is a ") + value.type_name() + ", not text");
  auto s = value.get<std::string>();
  if (s.size() > max) fail(where, "longer than " + std::to_string(max) + " characters");
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && !(lines && c == '\n')) || u == 0x7f) {
      fail(where, "holds a control character");
    }
  }
  return s;
}

template <class T>
T typed(const json& value, const std::string& where, bool lines = false) {
  const auto s = text(value, where, lines ? 64 * 1024 : 256, lines);
  std::string why;
  auto parsed = T::parse(s, &why);
  if (!parsed) fail(where, why);
  return *parsed;
}

std::vector<std::string> names(const json& value, const std::string& where) {
  if (!value.is_array()) fail(where, "is not a list");
  std::vector<std::string> out;
  std::set<std::string> seen;
  for (std::size_t i = 0; i < value.size(); ++i) {
    const auto w = where + "[" + std::to_string(i) + "]";
    auto name = typed<config::NodeName>(value[i], w).str();
    if (!seen.insert(name).second) fail(w, "\"" + name + "\" is listed twice");
    out.push_back(std::move(name));
  }
  return out;
}

// An instance's CRL file as the CA holder writes it: comment lines ("# revoked SERIAL NAME",
// which the servers' drivers read to end sessions), then CRLs in PEM (its client CA's and the
// network CA's): blocks of header, base64 lines, footer, one after the other; nothing else.
std::string crlPem(const json& value, const std::string& where) {
  const auto pem = text(value, where, 1024 * 1024, true);
  constexpr std::string_view kBegin = "-----BEGIN X509 CRL-----\n";
  constexpr std::string_view kEnd = "-----END X509 CRL-----\n";
  std::string_view rest = pem;
  while (rest.starts_with("#")) {
    const auto end = rest.find('\n');
    if (end == std::string_view::npos) fail(where, "ends inside a comment line");
    rest.remove_prefix(end + 1);
  }
  if (rest.empty()) fail(where, "holds no PEM X509 CRL");
  while (!rest.empty()) {
    if (!rest.starts_with(kBegin)) fail(where, "is not PEM X509 CRLs, one after the other");
    rest.remove_prefix(kBegin.size());
    const auto end = rest.find(kEnd);
    if (end == std::string_view::npos || end == 0) fail(where, "holds a CRL with no body or end");
    for (char c : rest.substr(0, end)) {
      const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                      c == '+' || c == '/' || c == '=' || c == '\n';
      if (!ok) fail(where, "holds something other than base64 between a header and its footer");
    }
    rest.remove_prefix(end + kEnd.size());
  }
  return pem;
}

std::uint16_t port(const json& value, const std::string& where) {
  if (!value.is_number_integer()) fail(where, "is not a whole number");
  std::string why;
  auto parsed = config::Port::fromInt(value.get<std::int64_t>(), &why);
  if (!parsed) fail(where, why);
  return parsed->value();
}

model::NetworkOffer offer(const json& value, const std::string& where) {
  if (!value.is_object()) fail(where, "is not an object");
  model::NetworkOffer o;
  o.name = typed<config::NodeName>(field(value, where, "name"), where + ".name").str();
  o.port = port(field(value, where, "port"), where + ".port");
  o.proto = text(field(value, where, "proto"), where + ".proto");
  if (o.proto != "udp" && o.proto != "tcp") {
    fail(where + ".proto", "\"" + o.proto + "\" is neither \"udp\" nor \"tcp\"");
  }
  return o;
}

model::NetworkNode node(const json& value, const std::string& where) {
  if (!value.is_object()) fail(where, "is not an object");
  model::NetworkNode n;
  n.name = typed<config::NodeName>(field(value, where, "name"), where + ".name").str();
  n.role = text(field(value, where, "role"), where + ".role");
  if (n.role != "server" && n.role != "gateway") {
    fail(where + ".role", "\"" + n.role + "\" is neither \"server\" nor \"gateway\"");
  }
  n.mesh_address =
      typed<config::Ipv4Address>(field(value, where, "mesh_address"), where + ".mesh_address")
          .str();
  if (auto it = value.find("public_address"); it != value.end() && !it->is_null()) {
    n.public_address = typed<config::HostAddress>(*it, where + ".public_address").str();
  }
  if (auto it = value.find("port"); it != value.end() && !it->is_null()) {
    n.port = port(*it, where + ".port");
  }
  n.tinc_public_key = typed<config::PublicKeyPem>(field(value, where, "tinc_public_key"),
                                                  where + ".tinc_public_key", true)
                          .str();
  const auto& offers = field(value, where, "openvpn");
  if (!offers.is_array()) fail(where + ".openvpn", "is not a list");
  std::set<std::string> offered;
  for (std::size_t i = 0; i < offers.size(); ++i) {
    auto o = offer(offers[i], where + ".openvpn[" + std::to_string(i) + "]");
    if (!offered.insert(o.name).second) {
      fail(where + ".openvpn[" + std::to_string(i) + "]", "\"" + o.name + "\" is listed twice");
    }
    n.openvpn.push_back(std::move(o));
  }
  const auto& subnets = field(value, where, "client_subnets");
  if (!subnets.is_array()) fail(where + ".client_subnets", "is not a list");
  for (std::size_t i = 0; i < subnets.size(); ++i) {
    n.client_subnets.push_back(
        typed<config::Cidr>(subnets[i], where + ".client_subnets[" + std::to_string(i) + "]")
            .str());
  }
  if (auto it = value.find("mesh_address6"); it != value.end()) {
    n.mesh_address6 = typed<config::Ipv6Address>(*it, where + ".mesh_address6").str();
  }
  if (auto it = value.find("client_subnets6"); it != value.end()) {
    if (!it->is_array() || it->empty())
      fail(where + ".client_subnets6", "is not a list of prefixes");
    for (std::size_t i = 0; i < it->size(); ++i) {
      n.client_subnets6.push_back(
          typed<config::Cidr6>((*it)[i], where + ".client_subnets6[" + std::to_string(i) + "]")
              .str());
    }
  }
  return n;
}

model::NetworkDocument document(const json& value) {
  if (!value.is_object()) fail("document", "is not a JSON object");
  model::NetworkDocument d;
  d.network = typed<config::NodeName>(field(value, "", "network"), "network").str();
  const auto& version = field(value, "", "version");
  if (!version.is_number_unsigned() || version.get<std::uint64_t>() == 0) {
    fail("version", "is not a whole number above 0");
  }
  d.version = version.get<std::uint64_t>();
  const auto& issued = field(value, "", "issued_ms");
  if (!issued.is_number_integer()) fail("issued_ms", "is not a whole number");
  d.issued_ms = issued.get<std::int64_t>();
  const auto& nodes = field(value, "", "nodes");
  if (!nodes.is_array()) fail("nodes", "is not a list");
  if (nodes.size() > kMaxNodes) fail("nodes", "more than " + std::to_string(kMaxNodes));
  std::map<std::string, std::string> names_seen, addresses_seen;
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    const auto where = "nodes[" + std::to_string(i) + "]";
    auto n = node(nodes[i], where);
    if (!names_seen.emplace(n.name, where).second) {
      fail(where + ".name", "\"" + n.name + "\" is also " + names_seen[n.name]);
    }
    if (!addresses_seen.emplace(n.mesh_address, n.name).second) {
      fail(where + ".mesh_address",
           n.mesh_address + " is also the mesh address of " + addresses_seen[n.mesh_address]);
    }
    if (n.mesh_address6 && !addresses_seen.emplace(*n.mesh_address6, n.name).second) {
      fail(where + ".mesh_address6",
           *n.mesh_address6 + " is also the mesh address of " + addresses_seen[*n.mesh_address6]);
    }
    d.nodes.push_back(std::move(n));
  }
  std::sort(d.nodes.begin(), d.nodes.end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });
  const auto& crls = field(value, "", "crls");
  if (!crls.is_object()) fail("crls", "is not an object");
  for (const auto& [instance, pem] : crls.items()) {
    std::string why;
    if (!config::NodeName::parse(instance, &why)) fail("crls." + instance, why);
    d.crls[instance] = crlPem(pem, "crls." + instance);
  }
  if (auto it = value.find("removed"); it != value.end()) {
    d.removed = names(*it, "removed");
    if (d.removed.size() > kMaxNodes) fail("removed", "more than " + std::to_string(kMaxNodes));
    for (const auto& name : d.removed) {
      if (d.node(name)) fail("removed", "\"" + name + "\" is also in nodes");
    }
    std::sort(d.removed.begin(), d.removed.end());
  }
  return d;
}

}  // namespace

std::optional<model::NetworkNode> parseNode(const nlohmann::json& value, const std::string& where,
                                            std::string& error) {
  try {
    return node(value, where);
  } catch (const Invalid& e) {
    error = e.message;
    return std::nullopt;
  }
}

ParsedDocument parseDocument(std::string_view text) {
  if (text.size() > kMaxDocumentBytes) {
    return {std::nullopt,
            "the document is larger than " + std::to_string(kMaxDocumentBytes) + " bytes"};
  }
  auto value = json::parse(text, nullptr, false);
  if (value.is_discarded()) return {std::nullopt, "the document is not JSON"};
  try {
    return {document(value), {}};
  } catch (const Invalid& e) {
    return {std::nullopt, e.message};
  }
}

std::string documentText(const model::NetworkDocument& document) {
  return model::toJson(document).dump();
}

}  // namespace meshbroker::network
