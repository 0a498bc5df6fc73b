#include "network/invitation.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <set>

#include "network/document.hpp"
#include "network/registry_state.hpp"
#include "network/signing.hpp"

namespace meshbroker::network {

using nlohmann::json;

namespace {

constexpr std::string_view kScheme = "mb1:";
constexpr std::string_view kRequestFormat = "meshbroker-join/1";
constexpr std::string_view kReplyFormat = "meshbroker-join-reply/1";

bool tokenShaped(std::string_view token) {
  return token.size() == 43 && std::all_of(token.begin(), token.end(), [](char c) {
           return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_';
         });
}

std::string field(const json& object, const char* key, std::size_t max = 256) {
  auto it = object.find(key);
  if (it == object.end() || !it->is_string()) return {};
  auto s = it->get<std::string>();
  return s.size() <= max ? s : std::string();
}

std::uint32_t ipv4(const std::string& text) {
  in_addr a{};
  return ::inet_pton(AF_INET, text.c_str(), &a) == 1 ? ntohl(a.s_addr) : 0;
}

// The address of host number `host` in prefix6, if it is one and not taken; else the lowest
// free host number from 1 (the subnet-router anycast address ::0 is never a node's). Empty when
// none is free among the first 65536.
std::string hostAddress6(const config::Cidr6& prefix6, std::uint32_t host,
                         const std::set<std::string>& taken6) {
  const int host_bits = 128 - prefix6.length();
  auto at = [&](std::uint64_t n) -> std::string {
    if (n == 0 || (host_bits < 64 && n >= (std::uint64_t{1} << host_bits))) return {};
    auto bytes = prefix6.network().bytes();
    for (int i = 15; i >= 8 && n != 0; --i, n >>= 8)
      bytes[i] |= static_cast<std::uint8_t>(n & 0xff);
    auto text = config::Ipv6Address::fromBytes(bytes).str();
    return taken6.contains(text) ? std::string{} : text;
  };
  if (auto preferred = at(host); !preferred.empty()) return preferred;
  for (std::uint64_t n = 1; n <= 65536; ++n) {
    if (auto free = at(n); !free.empty()) return free;
  }
  return {};
}

std::string ipv4Text(std::uint32_t value) {
  in_addr a{htonl(value)};
  char out[INET_ADDRSTRLEN] = {};
  ::inet_ntop(AF_INET, &a, out, sizeof out);
  return out;
}

}  // namespace

std::string formatInvitation(const InvitationLine& line) {
  const bool v6 = line.host.find(':') != std::string::npos;
  return std::string(kScheme) + (v6 ? "[" + line.host + "]" : line.host) + ":" +
         std::to_string(line.port) + "/" + line.token + "/" + line.fingerprint;
}

std::optional<InvitationLine> parseInvitation(std::string_view text, std::string& error) {
  auto fail = [&](const std::string& why) -> std::optional<InvitationLine> {
    error = "not an invitation (" + why + "); it looks like mb1:HOST:PORT/TOKEN/sha256:...";
    return std::nullopt;
  };
  if (!text.starts_with(kScheme)) return fail("it does not start with mb1:");
  text.remove_prefix(kScheme.size());
  InvitationLine line;
  std::string_view host_port;
  const auto slash = text.find('/');
  if (slash == std::string_view::npos) return fail("no token");
  host_port = text.substr(0, slash);
  text.remove_prefix(slash + 1);
  std::string_view host, port;
  if (host_port.starts_with("[")) {
    const auto close = host_port.find("]:");
    if (close == std::string_view::npos) return fail("an IPv6 host needs [ADDRESS]:PORT");
    host = host_port.substr(1, close - 1);
    port = host_port.substr(close + 2);
  } else {
    const auto colon = host_port.rfind(':');
    if (colon == std::string_view::npos) return fail("no port");
    host = host_port.substr(0, colon);
    port = host_port.substr(colon + 1);
  }
  std::string why;
  if (!config::HostAddress::parse(std::string(host), &why)) return fail("host: " + why);
  if (port.empty() || port.size() > 5 ||
      port.find_first_not_of("0123456789") != std::string_view::npos) {
    return fail("the port is not a number");
  }
  const int number = std::stoi(std::string(port));
  if (number < 1 || number > 65535) return fail("the port is out of range");
  const auto second = text.find('/');
  if (second == std::string_view::npos) return fail("no fingerprint");
  const auto token = text.substr(0, second);
  const auto fingerprint = text.substr(second + 1);
  if (!tokenShaped(token)) return fail("the token is not 43 base64url characters");
  if (!fingerprint.starts_with("sha256:") || fingerprint.size() != 7 + 43 ||
      !tokenShaped(fingerprint.substr(7))) {
    return fail("the fingerprint is not sha256: and 43 base64url characters");
  }
  line.host = std::string(host);
  line.port = static_cast<std::uint16_t>(number);
  line.token = std::string(token);
  line.fingerprint = std::string(fingerprint);
  return line;
}

std::string newToken() { return encodeBase64Url(randomBytes(32)); }

std::string newNonce() { return encodeBase64(randomBytes(32)); }

std::string inviteId(std::string_view token) {
  static constexpr char kHex[] = "0123456789abcdef";
  const auto digest = sha256(token);
  std::string out;
  for (std::size_t i = 0; i < 16; ++i) {
    const auto b = static_cast<unsigned char>(digest[i]);
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

std::string joinKey(std::string_view token) {
  return encodeBase64(hmacSha256(token, "meshbroker-join/1"));
}

std::string Invitation::unusable(std::int64_t now_ms) const {
  if (revoked) return "the invitation for " + name + " was revoked";
  if (used_ms != 0) {
    return "the invitation for " + name + " was used already (by " + used_from + ")";
  }
  if (now_ms >= expires_ms) return "the invitation for " + name + " has expired";
  return {};
}

json toJson(const Invitation& i) {
  json out = {{"id", i.id},
              {"key", i.key},
              {"name", i.name},
              {"role", i.role},
              {"mesh_address", i.mesh_address},
              {"created_ms", i.created_ms},
              {"expires_ms", i.expires_ms},
              {"used_ms", i.used_ms},
              {"used_from", i.used_from},
              {"revoked", i.revoked}};
  if (!i.mesh_address6.empty()) out["mesh_address6"] = i.mesh_address6;
  return out;
}

std::optional<Invitation> parseInvitationRecord(const json& value, const std::string& where,
                                                std::string& error) {
  auto fail = [&](const std::string& what) -> std::optional<Invitation> {
    error = where + what;
    return std::nullopt;
  };
  if (!value.is_object()) return fail(": not an object");
  Invitation i;
  i.id = field(value, "id");
  i.key = field(value, "key");
  i.name = field(value, "name");
  i.role = field(value, "role");
  i.mesh_address = field(value, "mesh_address");
  i.used_from = field(value, "used_from");
  std::string why;
  if (i.id.size() != 32 || i.id.find_first_not_of("0123456789abcdef") != std::string::npos) {
    return fail(".id: not 32 hex digits");
  }
  std::string raw;
  if (!decodeBase64(i.key, raw) || raw.size() != 32) return fail(".key: not a join key");
  if (!config::NodeName::parse(i.name, &why)) return fail(".name: " + why);
  if (i.role != "server" && i.role != "gateway") return fail(".role: not server or gateway");
  if (!config::Ipv4Address::parse(i.mesh_address, &why)) return fail(".mesh_address: " + why);
  if (value.contains("mesh_address6")) {
    i.mesh_address6 = field(value, "mesh_address6");
    if (!config::Ipv6Address::parse(i.mesh_address6, &why)) return fail(".mesh_address6: " + why);
  }
  for (const char* key : {"created_ms", "expires_ms", "used_ms"}) {
    if (!value.contains(key) || !value[key].is_number_integer()) {
      return fail(std::string(".") + key + ": not a whole number");
    }
  }
  if (!value.contains("revoked") || !value["revoked"].is_boolean()) {
    return fail(".revoked: not true or false");
  }
  i.created_ms = value["created_ms"].get<std::int64_t>();
  i.expires_ms = value["expires_ms"].get<std::int64_t>();
  i.used_ms = value["used_ms"].get<std::int64_t>();
  i.revoked = value["revoked"].get<bool>();
  return i;
}

InviteResult invite(RegistryState& state, const model::NetworkDocument& current,
                    const config::Cidr& prefix, const InviteAsk& ask, const std::string& token,
                    std::int64_t now_ms, std::int64_t ttl_ms,
                    const std::optional<config::Cidr6>& prefix6) {
  InviteResult out;
  std::string why;
  const auto& [name, role, mesh_address, mesh_address6] = ask;
  if (!config::NodeName::parse(name, &why)) return {"the name \"" + name + "\" " + why, {}};
  if (role != "server" && role != "gateway") {
    return {"the role must be \"gateway\" or \"server\", not \"" + role + "\"", {}};
  }
  if (ttl_ms <= 0) return {"the time to live must be above 0", {}};
  if (current.node(name)) return {"\"" + name + "\" is in the network already", {}};
  std::set<std::uint32_t> taken;
  std::set<std::string> taken6;  // normal text form
  auto normal6 = [](const std::string& text) {
    auto address = config::Ipv6Address::parse(text, nullptr);
    return address ? address->str() : text;
  };
  for (const auto& node : current.nodes) {
    taken.insert(ipv4(node.mesh_address));
    if (node.mesh_address6) taken6.insert(normal6(*node.mesh_address6));
  }
  for (const auto& pending : state.invitations) {
    if (!pending.unusable(now_ms).empty()) continue;
    if (pending.name == name) {
      return {"\"" + name + "\" has a pending invitation (id " + pending.id +
                  "); revoke it first (meshbroker invite --revoke ID)",
              {}};
    }
    taken.insert(ipv4(pending.mesh_address));
    if (!pending.mesh_address6.empty()) taken6.insert(normal6(pending.mesh_address6));
  }
  const std::uint32_t base = ipv4(prefix.network().str());
  const std::uint32_t size = prefix.length() >= 31 ? 0 : (1u << (32 - prefix.length()));
  std::uint32_t chosen = 0;
  if (mesh_address) {
    auto address = config::Ipv4Address::parse(*mesh_address, &why);
    if (!address) return {"--mesh-address " + *mesh_address + ": " + why, {}};
    chosen = ipv4(address->str());
    if (size == 0 || chosen <= base || chosen >= base + size - 1) {
      return {*mesh_address + " is not a host address of the mesh prefix " + prefix.str(), {}};
    }
    if (taken.contains(chosen)) return {*mesh_address + " is taken", {}};
  } else {
    for (std::uint32_t a = base + 1; size > 2 && a < base + size - 1; ++a) {
      if (!taken.contains(a)) {
        chosen = a;
        break;
      }
    }
    if (chosen == 0) return {"no free address is left in the mesh prefix " + prefix.str(), {}};
  }
  std::string chosen6;
  if (mesh_address6) {
    auto address = config::Ipv6Address::parse(*mesh_address6, &why);
    if (!address) return {"--mesh-address6 " + *mesh_address6 + ": " + why, {}};
    if (!prefix6) {
      return {"--mesh-address6: this network has no IPv6 mesh prefix (tinc.prefix6)", {}};
    }
    if (!prefix6->contains(*address) || *address == prefix6->network()) {
      return {*mesh_address6 + " is not a host address of the IPv6 mesh prefix " + prefix6->str(),
              {}};
    }
    if (taken6.contains(address->str())) return {*mesh_address6 + " is taken", {}};
    chosen6 = address->str();
  } else if (prefix6) {
    chosen6 = hostAddress6(*prefix6, chosen - base, taken6);
    if (chosen6.empty()) {
      return {"no free address is left in the IPv6 mesh prefix " + prefix6->str(), {}};
    }
  }
  // Keep the record bounded: the oldest invitations that can no longer be used go first.
  while (state.invitations.size() >= kMaxInvitations) {
    auto old = std::find_if(state.invitations.begin(), state.invitations.end(),
                            [&](const Invitation& i) { return !i.unusable(now_ms).empty(); });
    if (old == state.invitations.end()) return {"too many pending invitations", {}};
    state.invitations.erase(old);
  }
  out.invitation = {inviteId(token), joinKey(token),  name, role, ipv4Text(chosen),
                    now_ms,          now_ms + ttl_ms, 0,    {},   false,
                    chosen6};
  state.invitations.push_back(out.invitation);
  return out;
}

std::string revokeInvitation(RegistryState& state, std::string_view id_or_token) {
  const std::string id =
      tokenShaped(id_or_token) ? inviteId(id_or_token) : std::string(id_or_token);
  for (auto& i : state.invitations) {
    if (i.id != id) continue;
    if (i.used_ms != 0) return "the invitation for " + i.name + " was used already";
    if (i.revoked) return "the invitation for " + i.name + " was revoked already";
    i.revoked = true;
    return {};
  }
  return "no invitation with id " + id;
}

std::string sealJoinRequest(const JoinRequest& request, std::string_view token) {
  json body = {{"format", kRequestFormat},
               {"invite", request.invite},
               {"name", request.name},
               {"tinc_public_key", request.tinc_public_key},
               {"nonce", request.nonce}};
  if (request.public_address) body["public_address"] = *request.public_address;
  if (request.port) body["port"] = *request.port;
  const auto text = body.dump();
  std::string key;
  decodeBase64(joinKey(token), key);
  return json{{"request", text}, {"mac", encodeBase64(hmacSha256(key, text))}}.dump();
}

Admission admit(RegistryState& state, const model::NetworkDocument& current, std::string_view body,
                std::int64_t now_ms, const std::string& from) {
  auto refuse = [](int status, std::string why) {
    return Admission{std::move(why), status, {}, {}};
  };
  if (body.size() > kMaxJoinRequestBytes) return refuse(413, "the request is too large");
  const auto outer = json::parse(body, nullptr, false);
  if (outer.is_discarded() || !outer.is_object()) return refuse(400, "the request is not JSON");
  const auto text = field(outer, "request", kMaxJoinRequestBytes);
  std::string mac;
  if (text.empty() || !decodeBase64(field(outer, "mac"), mac) || mac.size() != 32) {
    return refuse(400, "the request has no request text or MAC");
  }
  const auto request = json::parse(text, nullptr, false);
  if (request.is_discarded() || !request.is_object() ||
      field(request, "format") != kRequestFormat) {
    return refuse(400, "the request is not a meshbroker-join/1 request");
  }
  const auto id = field(request, "invite");
  auto it = std::find_if(state.invitations.begin(), state.invitations.end(),
                         [&](const Invitation& i) { return i.id == id; });
  if (it == state.invitations.end()) return refuse(403, "unknown invitation");
  std::string key;
  decodeBase64(it->key, key);
  const auto expected = hmacSha256(key, text);
  if (!equalInConstantTime(expected, mac)) {
    return refuse(403, "the request does not prove the invitation's token");
  }
  if (auto why = it->unusable(now_ms); !why.empty()) return refuse(403, why);
  auto name = field(request, "name");
  if (name.empty()) name = it->name;
  if (name != it->name) {
    return refuse(403, "the invitation is for " + it->name + ", not \"" + name + "\"");
  }
  std::string why;
  auto tinc_key = config::PublicKeyPem::parse(field(request, "tinc_public_key", 16 * 1024), &why);
  if (!tinc_key) return refuse(400, "tinc_public_key: " + why);
  std::string nonce;
  if (!decodeBase64(field(request, "nonce"), nonce) || nonce.size() != 32) {
    return refuse(400, "the nonce is not 32 bytes of base64");
  }
  std::optional<std::string> public_address;
  std::optional<std::uint16_t> port;
  if (request.contains("public_address")) {
    auto address = config::HostAddress::parse(field(request, "public_address"), &why);
    if (!address) return refuse(400, "public_address: " + why);
    public_address = address->str();
    const auto given = request.find("port");
    if (given != request.end() && !given->is_number_integer()) {
      return refuse(400, "port: not a whole number");
    }
    auto p = config::Port::fromInt(given == request.end() ? 655 : given->get<std::int64_t>(), &why);
    if (!p) return refuse(400, "port: " + why);
    port = p->value();
  }
  if (current.node(name)) return refuse(409, "\"" + name + "\" is in the network already");
  for (const auto& node : current.nodes) {
    if (node.mesh_address == it->mesh_address) {
      return refuse(409, it->mesh_address + " was taken meanwhile by " + node.name);
    }
    if (!it->mesh_address6.empty() && node.mesh_address6 &&
        config::Ipv6Address::parse(*node.mesh_address6, nullptr) ==
            config::Ipv6Address::parse(it->mesh_address6, nullptr)) {
      return refuse(409, it->mesh_address6 + " was taken meanwhile by " + node.name);
    }
  }
  it->used_ms = now_ms;
  it->used_from = from;
  model::NetworkNode node{name, it->role, it->mesh_address, public_address, port, tinc_key->str(),
                          {},   {}};
  if (!it->mesh_address6.empty()) node.mesh_address6 = it->mesh_address6;
  std::erase_if(state.removed, [&](const RemovedNode& r) { return r.name == name; });
  state.joined.push_back(node);
  return {{}, 200, node, field(request, "nonce")};
}

std::string sealJoinReply(const json& reply, const std::string& nonce,
                          std::string_view signing_key_pem) {
  const auto text = reply.dump();
  std::string raw_nonce;
  decodeBase64(nonce, raw_nonce);
  return json{{"format", kReplyFormat},
              {"key", publicKeyOf(signing_key_pem)},
              {"reply", text},
              {"signature", sign(signing_key_pem, raw_nonce + text)}}
      .dump();
}

OpenedReply openJoinReply(std::string_view body, const std::string& nonce,
                          const std::string& fingerprint) {
  OpenedReply out;
  const auto outer = json::parse(body, nullptr, false);
  if (outer.is_discarded() || !outer.is_object() || field(outer, "format") != kReplyFormat) {
    out.error = "the registry's answer is not a meshbroker-join-reply/1";
    return out;
  }
  const auto key = field(outer, "key");
  std::string why;
  if (!isPublicKey(key, &why)) {
    out.error = "the answer's key " + why;
    return out;
  }
  if (fingerprintOf(key) != fingerprint) {
    out.error = "the answer is signed by " + fingerprintOf(key) +
                ", not by the network key the invitation pins (" + fingerprint +
                "): not this network's registry";
    return out;
  }
  const auto text = field(outer, "reply", 8 * 1024 * 1024);
  std::string raw_nonce;
  decodeBase64(nonce, raw_nonce);
  if (text.empty() || !verify(key, raw_nonce + text, field(outer, "signature"))) {
    out.error = "the answer's signature does not match (forged, or not for this request)";
    return out;
  }
  auto reply = json::parse(text, nullptr, false);
  if (reply.is_discarded() || !reply.is_object() || !reply.contains("config") ||
      !reply["config"].is_object() || !reply.contains("envelope") ||
      !reply["envelope"].is_string()) {
    out.error = "the answer holds no config and document";
    return out;
  }
  out.reply = std::move(reply);
  out.key = key;
  return out;
}

}  // namespace meshbroker::network
