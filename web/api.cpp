// Builds the API documents from the snapshot: one function per document, status = all of them.
#include "web/api.hpp"

#include <algorithm>
#include <array>
#include <map>

namespace meshbroker::web {
namespace {

using nlohmann::json;

constexpr std::array<std::string_view, kDocumentCount> kNames = {
    "status", "backends", "gateways", "routes", "mesh", "clients", "events", "usage"};

json backends(const model::Snapshot& s, Access access) {
  json out = json::array();
  for (const auto& b : s.backends) {
    json entry = {{"id", b.id},
                  {"state", b.state},
                  {"up", b.state == "running"},
                  {"pid", b.pid},
                  {"restarts", b.restarts},
                  {"crashes_in_a_row", b.crashes_in_a_row},
                  {"since_ms", b.since_ms},
                  {"updated_ms", b.since_ms},
                  {"last_exit", b.last_exit},
                  {"failure", b.failure},
                  {"adopted", b.adopted}};
    // tincd's and openvpn's output names peers, their addresses and users.
    if (access == Access::kFull) entry["log_tail"] = b.log_tail;
    out.push_back(std::move(entry));
  }
  return out;
}

json gateways(const model::Snapshot& s) {
  json out = json::array();
  if (!s.health) return out;
  for (const auto& [name, peer] : s.health->peers) {
    // The model's form (verdict, verdict_since_ms, drained, rtt_ms, checks: a field added there
    // is here too), and what the API derives from it and from the topology.
    json entry = model::toJson(peer);
    entry["name"] = name;
    entry["up"] = peer.verdict == "up" || peer.verdict == "degraded";
    entry["updated_ms"] = s.updated_ms;
    if (const auto* host = s.topology.host(name)) {
      entry["role"] = host->role;
      entry["mesh_address"] = host->mesh_address;
    }
    std::int64_t since = 0;
    std::string reason;
    for (const auto& [check_name, check] : peer.checks) {
      since = std::max(since, check.since_ms);
      if (check_name == "icmp") entry["loss_pct"] = check.loss_pct;
      if (check.verdict != "up" && reason.empty()) reason = check_name + ": " + check.reason;
    }
    entry["since_ms"] = since;
    entry["reason"] = reason;
    out.push_back(entry);
  }
  return out;
}

json routes(const model::Snapshot& s) {
  json out = json::array();
  if (!s.health) return out;
  const json configured = model::toJson(s.topology)["route_sets"];
  for (const auto& set : s.health->route_sets) {
    json entry = model::toJson(set);
    entry["next_hops"] = set.all_down ? 0 : set.chosen.size();
    entry["updated_ms"] = s.updated_ms;
    for (const auto& c : configured) {
      if (c["name"] != set.name) continue;
      entry["policy"] = c["policy"];
      entry["to"] = c["to"];
      entry["from"] = c["from"];
      entry["via"] = c["via"];
    }
    out.push_back(entry);
  }
  return out;
}

json mesh(const model::Snapshot& s, Access access) {
  json out = json::array();
  for (const auto& [name, node] : s.mesh) {
    json entry = {{"name", name},
                  {"up", node.up},
                  {"since_ms", node.since_ms},
                  {"updated_ms", node.since_ms}};
    // A volunteer's router dials from its home address.
    if (access == Access::kFull) entry["remote_address"] = node.remote_address;
    out.push_back(std::move(entry));
  }
  return out;
}

json clients(const model::Snapshot& s, Access access) {
  json out = json::array();
  auto add = [&](const std::string& name, const model::OpenVpnSnapshot* live,
                 const model::TopologyInstance* configured) {
    json list = json::array();
    std::uint64_t in = 0;
    std::uint64_t out_bytes = 0;
    if (live) {
      for (const auto& c : live->clients) {
        in += c.bytes_received;
        out_bytes += c.bytes_sent;
        list.push_back({{"common_name", c.common_name},
                        {"real_address", c.real_address},
                        {"virtual_address", c.virtual_address},
                        {"bytes_received", c.bytes_received},
                        {"bytes_sent", c.bytes_sent},
                        {"connected_since", c.connected_since}});
      }
    }
    json entry = {{"instance", name},
                  {"management_connected", live && live->management_connected},
                  {"connected", list.size()},
                  {"bytes_received", in},
                  {"bytes_sent", out_bytes},
                  {"updated_ms", live ? live->updated_ms : 0},
                  {"problem_count", live ? live->problems.size() : 0}};
    // Who is connected, from where, and the management lines that quote them.
    if (access == Access::kFull) {
      entry["problems"] = live ? json(live->problems) : json::array();
      entry["clients"] = std::move(list);
    }
    if (configured) {
      entry["kind"] = configured->kind;
      entry["subnet"] = configured->subnet;
      entry["port"] = configured->port;
      entry["max_clients"] = configured->max_clients;
    }
    out.push_back(entry);
  };
  for (const auto& instance : s.topology.openvpn) {
    auto it = s.openvpn.find(instance.name);
    add(instance.name, it == s.openvpn.end() ? nullptr : &it->second, &instance);
  }
  for (const auto& entry : s.openvpn) {  // instances not (or no longer) in the config
    const std::string& name = entry.first;
    bool listed = std::any_of(out.begin(), out.end(),
                              [&name](const json& e) { return e.value("instance", "") == name; });
    if (!listed) add(name, &entry.second, nullptr);
  }
  return out;
}

// What each OpenVPN user used (issue 21). Names and addresses are private: the public view
// sums per instance.
json usage(const model::Snapshot& s, Access access) {
  json out = json::array();
  auto blocked = [&](const model::UserUsage& u) {
    return s.over_quota_until_s.find(u.instance + "/" + u.user);
  };
  if (access == Access::kFull) {
    for (const auto& u : s.usage) {
      auto entry = model::toJson(u);
      if (auto it = blocked(u); it != s.over_quota_until_s.end())
        entry["over_quota_until_s"] = it->second;
      out.push_back(std::move(entry));
    }
    return out;
  }
  std::map<std::string, std::pair<model::UsageCounters, std::size_t>> sums;
  std::map<std::string, std::size_t> over_quota;
  for (const auto& u : s.usage) {
    if (blocked(u) != s.over_quota_until_s.end()) ++over_quota[u.instance];
    auto& [sum, users] = sums[u.instance];
    sum.bytes_received += u.total.bytes_received;
    sum.bytes_sent += u.total.bytes_sent;
    sum.connected_s += u.total.connected_s;
    sum.sessions += u.total.sessions;
    ++users;
  }
  for (const auto& [instance, entry] : sums) {
    out.push_back({{"instance", instance},
                   {"users", entry.second},
                   {"over_quota", over_quota[instance]},
                   {"total", model::toJson(entry.first)}});
  }
  return out;
}

json events(const model::Snapshot& s, Access access) {
  json out = json::array();
  auto text = [access](std::string_view source, const std::string& what) {
    return access == Access::kFull ? what : publicEventText(source, what);
  };
  for (const auto& e : s.events) {
    out.push_back({{"at_ms", e.at_ms}, {"source", e.source}, {"what", text(e.source, e.what)}});
  }
  if (s.health) {
    for (const auto& e : s.health->events) {
      out.push_back({{"at_ms", e.at_ms}, {"source", "health"}, {"what", text("health", e.what)}});
    }
  }
  std::stable_sort(out.begin(), out.end(), [](const json& a, const json& b) {
    return a["at_ms"].get<std::int64_t>() < b["at_ms"].get<std::int64_t>();
  });
  constexpr std::size_t kMax = 100;
  if (out.size() > kMax) out.erase(out.begin(), out.begin() + (out.size() - kMax));
  return out;
}

json daemon(const model::Snapshot& s, const BuildInfo& build, Access access) {
  json reload = {{"at_ms", s.last_reload.at_ms},
                 {"ok", s.last_reload.ok},
                 {"errors", s.last_reload.errors},
                 {"actions", s.last_reload.actions}};
  json out = {{"pid", s.daemon_pid},        {"version", build.version},     {"role", s.role},
              {"started_ms", s.started_ms}, {"config_file", s.config_file}, {"last_reload", reload},
              {"updated_ms", s.updated_ms}};
  if (s.health) out["probe_timer"] = model::toJson(s.health->timer);
  out["route_errors"] = s.health ? json(s.health->route_errors) : json::array();
  out["route_conflicts"] = s.health ? json(s.health->route_conflicts) : json::array();
  out["routes_held"] = s.health && s.health->held;
  // Where OpenVPN runs: when its CRLs expire (OpenVPN then refuses every client), and whether
  // that needs someone; what to do (it names folders) only with the token.
  if (s.pki.checked) {
    json pki = {{"crl_next_update", s.pki.crl_next_update ? json(*s.pki.crl_next_update) : json()},
                {"crl_ok", s.pki.advice.empty()}};
    if (access == Access::kFull) pki["advice"] = s.pki.advice;
    out["pki"] = pki;
  }
  return out;
}

bool isDigit(char c) { return c >= '0' && c <= '9'; }
bool isHex(char c) { return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

// Length of a dotted quad starting at text[i] (1..3 digits, four times), or 0.
std::size_t dottedQuadAt(std::string_view text, std::size_t i) {
  std::size_t at = i;
  for (int group = 0; group < 4; ++group) {
    if (group > 0) {
      if (at >= text.size() || text[at] != '.') return 0;
      ++at;
    }
    std::size_t digits = 0;
    while (at < text.size() && isDigit(text[at]) && digits < 4) ++at, ++digits;
    if (digits == 0 || digits > 3) return 0;
  }
  if (at < text.size() && (isDigit(text[at]) || text[at] == '.')) return 0;
  return at - i;
}

// Every IPv6-looking run (hex digits, '.' and two or more ':') and every IPv4 dotted quad, glued
// to other characters or not, becomes "<address>".
std::string maskAddresses(std::string_view text) {
  std::string v6_masked;
  v6_masked.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    std::size_t end = i;
    int colons = 0;
    while (end < text.size() && (isHex(text[end]) || text[end] == ':' || text[end] == '.')) {
      colons += text[end] == ':';
      ++end;
    }
    if (end == i) {
      v6_masked += text[i++];
    } else {
      if (colons >= 2) {
        v6_masked += "<address>";
      } else {
        v6_masked.append(text.substr(i, end - i));
      }
      i = end;
    }
  }
  std::string out;
  out.reserve(v6_masked.size());
  const std::string_view in = v6_masked;
  for (std::size_t i = 0; i < in.size();) {
    // Not inside a longer dotted run ("1.192.0.2.9" is not an address, "x192.0.2.9" holds one).
    if ((i == 0 || in[i - 1] != '.') && isDigit(in[i])) {
      if (const std::size_t n = dottedQuadAt(in, i)) {
        out += "<address>";
        i += n;
        continue;
      }
    }
    out += in[i++];
  }
  return out;
}

}  // namespace

std::string publicEventText(std::string_view source, std::string_view what) {
  std::string text(what);
  if (source == "mesh") {
    // "cometa up (192.0.2.9 port 40000)": the peer's address goes.
    for (std::string_view state : {" up (", " down ("}) {
      const auto at = text.find(state);
      if (at != std::string::npos && text.back() == ')') {
        text.erase(at + state.size() - 2);
        break;
      }
    }
  } else if (source == "operator") {
    // "drain cometa (http 127.0.0.1:5000, reason: ...)": the caller and reason go; an
    // OpenVPN command ("openvpn-users: kill alice") keeps only its verb.
    text.erase(std::min(text.find(" ("), text.size()));
    const auto colon = text.find(": ");
    if (text.starts_with("openvpn-") && colon != std::string::npos) {
      const auto verb_end = text.find(' ', colon + 2);
      text = text.substr(0, std::min(verb_end, text.size())) + " (details need the token)";
    }
  } else if (source != "backend" && source != "health" && source != "reload") {
    return std::string(source) + " event (details need the token)";
  }
  return maskAddresses(text);
}

std::optional<Document> documentNamed(std::string_view name) {
  for (std::size_t i = 0; i < kNames.size(); ++i) {
    if (kNames[i] == name) return static_cast<Document>(i);
  }
  return std::nullopt;
}

std::string_view nameOf(Document document) { return kNames[static_cast<std::size_t>(document)]; }

namespace {

// The content of one part document (everything but status).
json part(const model::Snapshot& snapshot, Document which, Access access) {
  switch (which) {
    case Document::kBackends:
      return backends(snapshot, access);
    case Document::kGateways:
      return gateways(snapshot);
    case Document::kRoutes:
      return routes(snapshot);
    case Document::kMesh:
      return mesh(snapshot, access);
    case Document::kClients:
      return clients(snapshot, access);
    case Document::kEvents:
      return events(snapshot, access);
    case Document::kUsage:
      return usage(snapshot, access);
    case Document::kStatus:
      break;
  }
  return nullptr;
}

}  // namespace

json document(const model::Snapshot& snapshot, const BuildInfo& build, Document which,
              Access access) {
  json out = {{"generation", snapshot.generation},
              {"updated_ms", snapshot.updated_ms},
              {"node", snapshot.node},
              {"access", access == Access::kFull ? "full" : "public"}};
  if (which != Document::kStatus) {
    out[std::string(nameOf(which))] = part(snapshot, which, access);
    return out;
  }
  out["daemon"] = daemon(snapshot, build, access);
  for (int i = 0; i < kDocumentCount; ++i) {
    const auto each = static_cast<Document>(i);
    if (each != Document::kStatus) out[std::string(nameOf(each))] = part(snapshot, each, access);
  }
  out["topology"] = model::toJson(snapshot.topology);
  // The registry's signed document as this node holds it (docs/network.md): versions, names
  // and counts only, in both views.
  out["network"] = snapshot.network ? model::toJson(*snapshot.network) : json();
  if (access != Access::kFull) {
    // A host's public address can be a volunteer's home connection.
    for (auto& host : out["topology"]["hosts"]) host.erase("public_address");
  }
  return out;
}

json errorBody(int status, std::string_view code, std::string_view message) {
  return {{"error",
           {{"status", status}, {"code", std::string(code)}, {"message", std::string(message)}}}};
}

}  // namespace meshbroker::web
