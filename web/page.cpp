// Renders the status page from its mustache templates (web/page/*.mustache, compiled in): a
// headline (are people connected?), the topology as inline SVG, tables for gateways, route
// sets, backends, mesh nodes, OpenVPN clients, and recent events. This file only makes the
// values (words, durations, coordinates); the templates hold the markup and escape every value.
#include "web/page.hpp"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <kainjow/mustache.hpp>
#include <map>
#include <set>
#include <stdexcept>
#include <vector>

#include "web/json_fields.hpp"
#include "web/page_templates.hpp"

namespace meshbroker::web {
namespace {

using nlohmann::json;
namespace mustache = kainjow::mustache;

// One of web/page/*.mustache with `data`; values escaped by escapeHtml (control characters too).
std::string render(std::string_view name, const mustache::data& data) {
  const auto& all = pageTemplates();
  auto it = all.find(name);
  if (it == all.end()) throw std::logic_error("no page template " + std::string(name));
  mustache::mustache tmpl(it->second);
  if (!tmpl.is_valid()) {
    throw std::logic_error("page template " + std::string(name) + ": " + tmpl.error_message());
  }
  tmpl.set_custom_escape([](const std::string& text) { return escapeHtml(text); });
  return tmpl.render(data);
}

mustache::data flag(bool value) {
  return value ? mustache::data(mustache::data::type::bool_true)
               : mustache::data(mustache::data::type::bool_false);
}

mustache::data listOf(std::vector<mustache::data> items) {
  mustache::data list(mustache::data::type::list);
  for (auto& item : items) list.push_back(std::move(item));
  return list;
}

// A time_t in UTC, in strftime's format.
std::string utcText(std::int64_t time_s, const char* format) {
  const std::time_t t = static_cast<std::time_t>(time_s);
  std::tm utc{};
  gmtime_r(&t, &utc);
  char text[32];
  std::strftime(text, sizeof text, format, &utc);
  return text;
}

std::string clock(std::int64_t at_ms) {
  return at_ms <= 0 ? "-" : utcText(at_ms / 1000, "%H:%M:%S");
}

// "2027-01-01" (UTC) of a time_t.
std::string utcDate(std::int64_t time_s) { return utcText(time_s, "%Y-%m-%d"); }

std::string span(std::int64_t s) {
  if (s < 120) return std::to_string(s) + " s";
  if (s < 7200) return std::to_string(s / 60) + " min";
  if (s < 172800) return std::to_string(s / 3600) + " h";
  return std::to_string(s / 86400) + " d";
}

std::string duration(std::int64_t since_ms, std::int64_t now_ms) {
  if (since_ms <= 0 || now_ms < since_ms) return "-";
  return span((now_ms - since_ms) / 1000);
}

std::string rtt(const json& gateway) {
  if (optionalMember(gateway, "rtt_ms").is_null()) return "-";
  char text[32];
  std::snprintf(text, sizeof text, "%.1f ms", numberAt(gateway, "rtt_ms"));
  return text;
}

std::string percent(const json& object, const char* key) {
  if (optionalMember(object, key).is_null()) return "-";  // loss_pct: only with an icmp check
  char text[32];
  std::snprintf(text, sizeof text, "%.0f %%", numberAt(object, key));
  return text;
}

std::string bytes(std::uint64_t n) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(n);
  int unit = 0;
  while (value >= 1024 && unit < 4) {
    value /= 1024;
    ++unit;
  }
  char text[32];
  std::snprintf(text, sizeof text, unit == 0 ? "%.0f %s" : "%.1f %s", value, units[unit]);
  return text;
}

// Since when its state (the "for" column) holds: its verdict's last change, or before one, its
// checks' latest.
std::int64_t verdictSince(const json& gateway) {
  const auto since = integerAt(gateway, "verdict_since_ms");
  return since > 0 ? since : integerAt(gateway, "since_ms");
}

// A gateway's state as a CSS class and a word: up, degraded, down, drained, unknown.
std::string stateOf(const json& gateway) {
  if (boolAt(gateway, "drained")) return "drained";
  std::string verdict = textAt(gateway, "verdict");
  if (verdict == "up" || verdict == "degraded" || verdict == "down") return verdict;
  return "unknown";
}

std::set<std::string> activeGateways(const json& status) {
  std::set<std::string> active;
  for (const auto& set : arrayAt(status, "routes")) {
    if (boolAt(set, "all_down")) continue;
    for (const auto& name : arrayAt(set, "chosen")) {
      if (name.is_string()) active.insert(name.get<std::string>());
    }
  }
  return active;
}

struct Headline {
  std::string css;  // ok, warn, bad
  std::string text;
};

Headline headline(const json& status) {
  std::vector<std::string> bad;
  std::vector<std::string> warn;
  for (const auto& set : arrayAt(status, "routes")) {
    if (boolAt(set, "all_down")) {
      bad.push_back("route set " + textAt(set, "name") + ": all gateways down");
    } else if (!boolAt(set, "settled")) {
      warn.push_back("route set " + textAt(set, "name") + ": waiting for the first probes");
    }
  }
  for (const auto& b : arrayAt(status, "backends")) {
    const std::string state = textAt(b, "state");
    if (state == "failed") {
      bad.push_back(textAt(b, "id") + " failed: " + textAt(b, "failure"));
    } else if (state != "running") {
      warn.push_back(textAt(b, "id") + " is " + state);
    }
  }
  for (const auto& g : arrayAt(status, "gateways")) {
    const std::string state = stateOf(g);
    if (state == "down" || state == "degraded") warn.push_back(textAt(g, "name") + " is " + state);
  }
  const json& daemon = member(status, "daemon");
  const json& reload = member(daemon, "last_reload");
  if (!reload.is_null() && !boolAt(reload, "ok")) {
    warn.push_back("the last reload was refused (the old config still runs)");
  }
  auto join = [](const std::vector<std::string>& items) {
    std::string out;
    for (const auto& item : items) out += (out.empty() ? "" : "; ") + item;
    return out;
  };
  if (!bad.empty()) return {"bad", "People are cut off: " + join(bad)};
  if (!warn.empty()) return {"warn", "Connected, with trouble: " + join(warn)};
  return {"ok", "All good: tunnels running, every gateway answers"};
}

// ---- the topology picture ----

struct Box {
  double x, y, w, h;
};

std::string number(double v) {
  char text[32];
  std::snprintf(text, sizeof text, "%.0f", v);
  return text;
}

// A box with a title (tooltip), its lines (the first in bold) and data-* attributes.
mustache::data box(const Box& b, const std::string& css, const std::string& title,
                   const std::vector<std::string>& lines,
                   const std::vector<std::pair<std::string, std::string>>& attributes = {}) {
  mustache::data out;
  out.set("css", css);
  out.set("title", title);
  out.set("x", number(b.x));
  out.set("y", number(b.y));
  out.set("w", number(b.w));
  out.set("h", number(b.h));
  std::vector<mustache::data> texts;
  double y = b.y + 20;
  for (const auto& line : lines) {
    mustache::data text;
    text.set("x", number(b.x + b.w / 2));
    text.set("y", number(y));
    text.set("first", flag(texts.empty()));
    text.set("text", line);
    texts.push_back(std::move(text));
    y += 16;
  }
  out.set("lines", listOf(std::move(texts)));
  std::vector<mustache::data> data;
  for (const auto& [name, value] : attributes) {
    mustache::data attribute;
    attribute.set("name", name);
    attribute.set("value", value);
    data.push_back(std::move(attribute));
  }
  out.set("data", listOf(std::move(data)));
  return out;
}

mustache::data line(double x1, double y1, double x2, double y2, const std::string& css) {
  mustache::data out;
  out.set("css", css);
  out.set("x1", number(x1));
  out.set("y1", number(y1));
  out.set("x2", number(x2));
  out.set("y2", number(y2));
  return out;
}

// From the right edge of one box to the left edge of the next column's.
mustache::data link(const Box& from, const Box& to, const std::string& css) {
  return line(from.x + from.w, from.y + from.h / 2, to.x, to.y + to.h / 2, css);
}

}  // namespace

std::string escapeHtml(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 && c != '\n' && c != '\t') {
          out += "\xEF\xBF\xBD";  // U+FFFD: control characters never reach the page
        } else {
          out += c;
        }
    }
  }
  return out;
}

std::string renderTopology(const json& status) {
  const json& topology = member(status, "topology");
  const json& daemon = member(status, "daemon");
  const std::string node = textAt(status, "node");
  const bool gateway_role = textAt(daemon, "role") == "gateway";
  const auto active = activeGateways(status);

  // Column 1: OpenVPN instances; 2: this node and the other servers; 3: probed peers; 4: mesh.
  std::vector<json> instances;
  for (const auto& c : arrayAt(status, "clients")) instances.push_back(c);
  std::vector<json> servers;
  std::set<std::string> peers_seen;
  for (const auto& g : arrayAt(status, "gateways")) peers_seen.insert(textAt(g, "name"));
  std::map<std::string, bool> mesh_up;
  for (const auto& m : arrayAt(status, "mesh")) mesh_up[textAt(m, "name")] = boolAt(m, "up");
  for (const auto& host : arrayAt(topology, "hosts")) {
    if (textAt(host, "role") == "server" && !peers_seen.count(textAt(host, "name"))) {
      servers.push_back(host);
    }
  }
  const auto& peers = arrayAt(status, "gateways");
  const std::size_t rows =
      std::max<std::size_t>({1, instances.size(), servers.size() + 1, peers.size()});
  const double row_h = 78;
  const double height = 40 + static_cast<double>(rows) * row_h;
  const double width = 940;
  auto rowY = [&](std::size_t i, std::size_t count) {
    const double block = static_cast<double>(count) * row_h;
    return 30 + (height - 30 - block) / 2 + static_cast<double>(i) * row_h;
  };

  std::vector<mustache::data> links;
  std::vector<mustache::data> boxes;
  const std::string self_word = gateway_role ? "gateway" : "server";
  const Box self{260, rowY(0, servers.size() + 1), 170, 62};
  boxes.push_back(box(self, "self", node + " (this " + self_word + ")",
                      {node, "this " + self_word, textAt(topology, "address")}, {{"node", node}}));
  for (std::size_t i = 0; i < instances.size(); ++i) {
    const auto& c = instances[i];
    const Box b{20, rowY(i, instances.size()), 170, 62};
    const auto connected = integerAt(c, "connected");
    const bool managed = boolAt(c, "management_connected");
    boxes.push_back(
        box(b, managed ? "up" : "unknown", "OpenVPN instance " + textAt(c, "instance"),
            {"openvpn " + textAt(c, "instance"),
             std::to_string(connected) + (connected == 1 ? " client" : " clients"),
             optionalTextAt(c, "subnet")},
            {{"instance", textAt(c, "instance")}, {"clients", std::to_string(connected)}}));
    links.push_back(link(b, self, managed ? "up" : "unknown"));
  }
  for (std::size_t i = 0; i < servers.size(); ++i) {
    const auto& host = servers[i];
    const std::string name = textAt(host, "name");
    const Box b{260, rowY(i + 1, servers.size() + 1), 170, 62};
    auto it = mesh_up.find(name);
    const std::string css = it == mesh_up.end() ? "unknown" : it->second ? "up" : "down";
    boxes.push_back(box(b, css, "server " + name,
                        {name, "server, tinc " + std::string(css == "unknown" ? "not seen" : css),
                         textAt(host, "mesh_address")},
                        {{"node", name}}));
    links.push_back(line(345, self.y + self.h, 345, b.y, "tinc " + css));
  }
  const Box mesh_box{760, 30 + (height - 30) / 2 - 45, 160, 90};
  for (std::size_t i = 0; i < peers.size(); ++i) {
    const auto& g = peers[i];
    const std::string name = textAt(g, "name");
    const std::string state = stateOf(g);
    const std::string css = state + (active.count(name) > 0 ? " active" : "");
    const Box b{505, rowY(i, peers.size()), 170, 62};
    boxes.push_back(
        box(b, css, "gateway " + name + ": " + state,
            {name, state + (active.count(name) > 0 ? ", carrying traffic" : ""), "RTT " + rtt(g)},
            {{"gateway", name}, {"state", state}}));
    links.push_back(link(self, b, css));
    if (!gateway_role) links.push_back(link(b, mesh_box, css));
  }
  // Five lines fit the box: its name, the destinations, then the hosts probed through gateways.
  std::vector<std::string> probed;
  for (const char* key : {"through_target", "through_target6"}) {
    if (!optionalMember(topology, key).is_null()) probed.push_back("host " + textAt(topology, key));
  }
  std::vector<std::string> mesh_lines = {gateway_role ? "mesh (behind us)" : "mesh"};
  for (const auto& set : arrayAt(topology, "route_sets")) {
    for (const auto& to : arrayAt(set, "to")) {
      if (to.is_string() && mesh_lines.size() + probed.size() < 5) {
        mesh_lines.push_back(to.get<std::string>());
      }
    }
  }
  mesh_lines.insert(mesh_lines.end(), probed.begin(), probed.end());
  boxes.push_back(box(mesh_box, "mesh", "the mesh", mesh_lines));
  if (gateway_role) links.push_back(link(self, mesh_box, "up"));

  mustache::data data;
  data.set("width", number(width));
  data.set("height", number(height));
  data.set("node", node);
  data.set("column2", gateway_role ? "this gateway" : "servers (tinc)");
  data.set("column3", gateway_role ? "servers it routes back to" : "gateways");
  data.set("links", listOf(std::move(links)));
  data.set("boxes", listOf(std::move(boxes)));
  return render("topology.svg.mustache", data);
}

std::string renderLive(const json& status) {
  const std::int64_t now = integerAt(status, "updated_ms");
  const json& daemon = member(status, "daemon");
  const auto head = headline(status);
  // The public view (no token) has counts and states; names and addresses are not in it.
  const bool full = textAt(status, "access") == "full";
  mustache::data data;
  data.set("generation", textAt(status, "generation"));
  data.set("updated_ms", std::to_string(now));
  data.set("access", full ? "full" : "public");
  data.set("full", flag(full));
  data.set("headline_css", head.css);
  data.set("headline", head.text);
  data.set("node", textAt(status, "node"));
  data.set("role", textAt(daemon, "role"));
  data.set("version", textAt(daemon, "version"));
  data.set("uptime", duration(integerAt(daemon, "started_ms"), now));
  data.set("clock", clock(now));
  data.set("topology", renderTopology(status));

  const auto active = activeGateways(status);
  std::vector<mustache::data> gateways;
  for (const auto& g : arrayAt(status, "gateways")) {
    mustache::data row;
    row.set("name", textAt(g, "name"));
    row.set("active", flag(active.count(textAt(g, "name")) > 0));
    row.set("state", stateOf(g));
    row.set("rtt", rtt(g));
    row.set("loss", percent(g, "loss_pct"));
    row.set("for", duration(verdictSince(g), now));
    row.set("reason", textAt(g, "reason"));
    gateways.push_back(std::move(row));
  }
  data.set("gateways", listOf(std::move(gateways)));

  std::vector<mustache::data> routes;
  for (const auto& r : arrayAt(status, "routes")) {
    std::string to;
    for (const auto& p : arrayAt(r, "to")) {
      if (p.is_string()) to += (to.empty() ? "" : ", ") + p.get<std::string>();
    }
    std::string chosen;
    for (const auto& c : arrayAt(r, "chosen")) {
      if (c.is_string()) chosen += (chosen.empty() ? "" : ", ") + c.get<std::string>();
    }
    const bool down = boolAt(r, "all_down");
    mustache::data row;
    row.set("name", textAt(r, "name"));
    row.set("to", to);
    row.set("policy", textAt(r, "policy"));
    row.set("css", down ? "down" : "up");
    row.set("via", down ? "ALL DOWN" : chosen);
    row.set("why", textAt(r, "why"));
    routes.push_back(std::move(row));
  }
  data.set("routes", listOf(std::move(routes)));

  std::vector<mustache::data> instances;
  for (const auto& instance : arrayAt(status, "clients")) {
    mustache::data group;
    group.set("instance", textAt(instance, "instance"));
    group.set("kind", optionalTextAt(instance, "kind"));  // kind, subnet: configured ones
    group.set("subnet", optionalTextAt(instance, "subnet"));
    group.set("connected", textAt(instance, "connected"));
    group.set("managed", flag(boolAt(instance, "management_connected")));
    std::vector<mustache::data> clients;
    for (const auto& c : arrayOf(optionalMember(instance, "clients"), "clients")) {  // full view
      mustache::data row;
      row.set("common_name", textAt(c, "common_name"));
      row.set("virtual_address", textAt(c, "virtual_address"));
      row.set("in", bytes(static_cast<std::uint64_t>(integerAt(c, "bytes_received"))));
      row.set("out", bytes(static_cast<std::uint64_t>(integerAt(c, "bytes_sent"))));
      row.set("since", clock(integerAt(c, "connected_since") * 1000));
      clients.push_back(std::move(row));
    }
    group.set("clients", listOf(std::move(clients)));
    instances.push_back(std::move(group));
  }
  data.set("instances", listOf(std::move(instances)));

  // Per user with the token; per instance (its users summed) without.
  std::vector<mustache::data> usage;
  for (const auto& u : arrayAt(status, "usage")) {
    const json& total = member(u, "total");
    const json* month = u.contains("this_month") ? &member(u, "this_month") : nullptr;
    mustache::data row;
    row.set("instance", textAt(u, "instance"));
    std::string who = u.contains("user") ? textAt(u, "user") : textAt(u, "users") + " users";
    if (u.contains("over_quota_until_s")) {
      who += " (over quota until " + utcDate(integerAt(u, "over_quota_until_s")) + ")";
    } else if (u.contains("over_quota") && integerAt(u, "over_quota") > 0) {
      who += ", " + textAt(u, "over_quota") + " over quota";
    }
    row.set("user", who);
    row.set("in", bytes(static_cast<std::uint64_t>(integerAt(total, "bytes_received"))));
    row.set("out", bytes(static_cast<std::uint64_t>(integerAt(total, "bytes_sent"))));
    row.set("time", span(integerAt(total, "connected_s")));
    row.set("sessions", textAt(total, "sessions"));
    row.set("month_in", month
                            ? bytes(static_cast<std::uint64_t>(integerAt(*month, "bytes_received")))
                            : std::string("-"));
    row.set("month_out", month ? bytes(static_cast<std::uint64_t>(integerAt(*month, "bytes_sent")))
                               : std::string("-"));
    usage.push_back(std::move(row));
  }
  data.set("has_usage", !usage.empty());
  data.set("usage", listOf(std::move(usage)));

  std::vector<mustache::data> backends;
  for (const auto& b : arrayAt(status, "backends")) {
    const std::string state = textAt(b, "state");
    mustache::data row;
    row.set("id", textAt(b, "id"));
    row.set("css", state == "running" ? "up" : state == "failed" ? "down" : "unknown");
    row.set("state", state);
    row.set("pid", textAt(b, "pid"));
    row.set("restarts", textAt(b, "restarts"));
    row.set("for", duration(integerAt(b, "since_ms"), now));
    row.set("last_exit", textAt(b, "last_exit"));
    backends.push_back(std::move(row));
  }
  data.set("backends", listOf(std::move(backends)));

  std::vector<mustache::data> mesh;
  for (const auto& m : arrayAt(status, "mesh")) {
    mustache::data row;
    row.set("name", textAt(m, "name"));
    row.set("state", boolAt(m, "up") ? "up" : "down");
    row.set("address", optionalTextAt(m, "remote_address"));  // full view
    row.set("for", duration(integerAt(m, "since_ms"), now));
    mesh.push_back(std::move(row));
  }
  data.set("mesh", listOf(std::move(mesh)));

  // The newest 30, newest first.
  std::vector<mustache::data> events;
  const auto& all = arrayAt(status, "events");
  for (std::size_t i = 0; i < std::min<std::size_t>(all.size(), 30); ++i) {
    const auto& ev = all[all.size() - 1 - i];
    mustache::data item;
    item.set("at", clock(integerAt(ev, "at_ms")));
    item.set("source", textAt(ev, "source"));
    item.set("what", textAt(ev, "what"));
    events.push_back(std::move(item));
  }
  data.set("events", listOf(std::move(events)));
  return render("live.html.mustache", data);
}

std::string renderPage(const json& status) {
  mustache::data data;
  data.set("node", textAt(status, "node"));
  data.set("live", renderLive(status));
  return render("page.html.mustache", data);
}

}  // namespace meshbroker::web
