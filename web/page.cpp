// Renders the status page: a headline (are people connected?), the topology as inline SVG,
// tables for gateways, route sets, backends, mesh nodes, OpenVPN clients, and recent events.
#include "web/page.hpp"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <map>
#include <set>
#include <vector>

#include "web/json_fields.hpp"

namespace meshbroker::web {
namespace {

using nlohmann::json;

std::string e(std::string_view text) { return escapeHtml(text); }

std::string clock(std::int64_t at_ms) {
  if (at_ms <= 0) return "-";
  std::time_t seconds = static_cast<std::time_t>(at_ms / 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%H:%M:%S", &utc);
  return text;
}

std::string duration(std::int64_t since_ms, std::int64_t now_ms) {
  if (since_ms <= 0 || now_ms < since_ms) return "-";
  const auto s = (now_ms - since_ms) / 1000;
  if (s < 120) return std::to_string(s) + " s";
  if (s < 7200) return std::to_string(s / 60) + " min";
  if (s < 172800) return std::to_string(s / 3600) + " h";
  return std::to_string(s / 86400) + " d";
}

std::string rtt(const json& gateway) {
  if (!gateway.contains("rtt_ms") || !gateway["rtt_ms"].is_number()) return "-";
  char text[32];
  std::snprintf(text, sizeof text, "%.1f ms", gateway["rtt_ms"].get<double>());
  return text;
}

std::string percent(const json& object, const char* key) {
  if (!object.is_object() || !object.contains(key) || !object[key].is_number()) return "-";
  char text[32];
  std::snprintf(text, sizeof text, "%.0f %%", object[key].get<double>());
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
  if (gateway.value("drained", false)) return "drained";
  std::string verdict = textAt(gateway, "verdict");
  if (verdict == "up" || verdict == "degraded" || verdict == "down") return verdict;
  return "unknown";
}

std::set<std::string> activeGateways(const json& status) {
  std::set<std::string> active;
  for (const auto& set : arrayAt(status, "routes")) {
    if (set.value("all_down", false)) continue;
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
    if (set.value("all_down", false)) {
      bad.push_back("route set " + textAt(set, "name") + ": all gateways down");
    } else if (!set.value("settled", true)) {
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
  const json daemon = status.value("daemon", json::object());
  if (!daemon.value("last_reload", json::object()).value("ok", true)) {
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

void rect(std::string& out, const Box& b, const std::string& css, const std::string& title,
          const std::vector<std::string>& lines, const std::string& data_attrs = "") {
  out += "<g class=\"node " + css + "\"" + data_attrs + "><title>" + e(title) + "</title>";
  out += "<rect x=\"" + number(b.x) + "\" y=\"" + number(b.y) + "\" width=\"" + number(b.w) +
         "\" height=\"" + number(b.h) + "\" rx=\"8\"/>";
  double y = b.y + 20;
  bool first = true;
  for (const auto& line : lines) {
    out += "<text x=\"" + number(b.x + b.w / 2) + "\" y=\"" + number(y) + "\"" +
           (first ? " class=\"name\"" : "") + ">" + e(line) + "</text>";
    y += 16;
    first = false;
  }
  out += "</g>";
}

void link(std::string& out, const Box& from, const Box& to, const std::string& css) {
  out += "<line class=\"link " + css + "\" x1=\"" + number(from.x + from.w) + "\" y1=\"" +
         number(from.y + from.h / 2) + "\" x2=\"" + number(to.x) + "\" y2=\"" +
         number(to.y + to.h / 2) + "\"/>";
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
  const json topology = status.value("topology", json::object());
  const json daemon = status.value("daemon", json::object());
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
  for (const auto& m : arrayAt(status, "mesh")) mesh_up[textAt(m, "name")] = m.value("up", false);
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

  std::string out;
  out += "<svg id=\"topology\" viewBox=\"0 0 " + number(width) + " " + number(height) +
         "\" role=\"img\" aria-label=\"topology of " + e(node) +
         "\" xmlns=\"http://www.w3.org/2000/svg\">";
  out += "<text class=\"col\" x=\"100\" y=\"18\">OpenVPN users</text>";
  out += "<text class=\"col\" x=\"345\" y=\"18\">" +
         std::string(gateway_role ? "this gateway" : "servers (tinc)") + "</text>";
  out += "<text class=\"col\" x=\"590\" y=\"18\">" +
         std::string(gateway_role ? "servers it routes back to" : "gateways") + "</text>";
  out += "<text class=\"col\" x=\"835\" y=\"18\">mesh</text>";

  auto rowY = [&](std::size_t i, std::size_t count) {
    const double block = static_cast<double>(count) * row_h;
    return 30 + (height - 30 - block) / 2 + static_cast<double>(i) * row_h;
  };

  const Box self{260, rowY(0, servers.size() + 1), 170, 62};
  std::string links;
  std::string nodes;
  {
    const std::string address = textAt(topology, "address");
    rect(nodes, self, "self",
         node + " (this " + std::string(gateway_role ? "gateway" : "server") + ")",
         {node, "this " + std::string(gateway_role ? "gateway" : "server"), address},
         " data-node=\"" + e(node) + "\"");
  }
  for (std::size_t i = 0; i < instances.size(); ++i) {
    const auto& c = instances[i];
    const Box b{20, rowY(i, instances.size()), 170, 62};
    const auto connected = c.value("connected", 0);
    const bool managed = c.value("management_connected", false);
    rect(nodes, b, managed ? "up" : "unknown", "OpenVPN instance " + textAt(c, "instance"),
         {"openvpn " + textAt(c, "instance"),
          std::to_string(connected) + (connected == 1 ? " client" : " clients"),
          textAt(c, "subnet")},
         " data-instance=\"" + e(textAt(c, "instance")) + "\" data-clients=\"" +
             std::to_string(connected) + "\"");
    link(links, b, self, managed ? "up" : "unknown");
  }
  for (std::size_t i = 0; i < servers.size(); ++i) {
    const auto& host = servers[i];
    const std::string name = textAt(host, "name");
    const Box b{260, rowY(i + 1, servers.size() + 1), 170, 62};
    auto it = mesh_up.find(name);
    const std::string css = it == mesh_up.end() ? "unknown" : it->second ? "up" : "down";
    rect(nodes, b, css, "server " + name,
         {name, "server, tinc " + std::string(css == "unknown" ? "not seen" : css),
          textAt(host, "mesh_address")},
         " data-node=\"" + e(name) + "\"");
    links += "<line class=\"link tinc " + css + "\" x1=\"345\" y1=\"" + number(self.y + self.h) +
             "\" x2=\"345\" y2=\"" + number(b.y) + "\"/>";
  }
  const Box mesh_box{760, 30 + (height - 30) / 2 - 45, 160, 90};
  for (std::size_t i = 0; i < peers.size(); ++i) {
    const auto& g = peers[i];
    const std::string name = textAt(g, "name");
    const std::string state = stateOf(g);
    const bool is_active = active.count(name) > 0;
    const Box b{505, rowY(i, peers.size()), 170, 62};
    rect(nodes, b, state + (is_active ? " active" : ""), "gateway " + name + ": " + state,
         {name, state + (is_active ? ", carrying traffic" : ""), "RTT " + rtt(g)},
         " data-gateway=\"" + e(name) + "\" data-state=\"" + e(state) + "\"");
    link(links, self, b, state + (is_active ? " active" : ""));
    if (!gateway_role) link(links, b, mesh_box, state + (is_active ? " active" : ""));
  }
  std::vector<std::string> mesh_lines = {gateway_role ? "mesh (behind us)" : "mesh"};
  for (const auto& set : arrayAt(topology, "route_sets")) {
    for (const auto& to : arrayAt(set, "to")) {
      if (to.is_string() && mesh_lines.size() < 4) mesh_lines.push_back(to.get<std::string>());
    }
  }
  if (topology.contains("through_target") && mesh_lines.size() < 5) {
    mesh_lines.push_back("host " + textAt(topology, "through_target"));
  }
  rect(nodes, mesh_box, "mesh", "the mesh", mesh_lines);
  if (gateway_role) link(links, self, mesh_box, "up");
  out += links + nodes + "</svg>";
  return out;
}

std::string renderLive(const json& status) {
  const std::int64_t now = integerAt(status, "updated_ms");
  const json daemon = status.value("daemon", json::object());
  const auto head = headline(status);
  // The public view (no token) has counts and states; names and addresses are not in it.
  const bool full = textAt(status, "access") == "full";
  std::string out;
  out.reserve(16384);
  out += "<div id=\"live-inner\" data-generation=\"" + textAt(status, "generation") +
         "\" data-updated-ms=\"" + std::to_string(now) + "\" data-access=\"" +
         (full ? "full" : "public") + "\">";
  out += "<p id=\"headline\" class=\"headline " + head.css + "\">" + e(head.text) + "</p>";
  out += "<p class=\"meta\">node <b>" + e(textAt(status, "node")) + "</b> (" +
         e(textAt(daemon, "role")) + "), meshbroker " + e(textAt(daemon, "version")) + ", up " +
         e(duration(integerAt(daemon, "started_ms"), now)) + "; snapshot " +
         e(textAt(status, "generation")) + " at " + e(clock(now)) + " UTC; " +
         (full ? "full view" : "public view: users' names, addresses and logs need the token") +
         "</p>";
  out += "<figure>" + renderTopology(status) + "</figure>";

  out +=
      "<h2>Gateways</h2><div class=\"scroll\"><table id=\"gateways\"><thead><tr><th>name</th>"
      "<th>state</th><th>RTT</th><th>loss</th><th>for</th><th>why</th></tr></thead><tbody>";
  const auto active = activeGateways(status);
  for (const auto& g : arrayAt(status, "gateways")) {
    const std::string state = stateOf(g);
    const std::string name = textAt(g, "name");
    out += "<tr data-gateway=\"" + e(name) + "\"><td>" + e(name) +
           (active.count(name) ? " <small>(active)</small>" : "") + "</td><td class=\"state " +
           e(state) + "\">" + e(state) + "</td><td>" + e(rtt(g)) + "</td><td>" +
           e(percent(g, "loss_pct")) + "</td><td>" + e(duration(verdictSince(g), now)) +
           "</td><td>" + e(textAt(g, "reason")) + "</td></tr>";
  }
  if (arrayAt(status, "gateways").empty()) out += "<tr><td colspan=\"6\">no peers probed</td></tr>";
  out += "</tbody></table></div>";

  out +=
      "<h2>Route sets</h2><div class=\"scroll\"><table id=\"routes\"><thead><tr><th>name</th>"
      "<th>to</th><th>policy</th><th>via now</th><th>why</th></tr></thead><tbody>";
  for (const auto& r : arrayAt(status, "routes")) {
    std::string to;
    for (const auto& p : arrayAt(r, "to")) to += (to.empty() ? "" : ", ") + p.get<std::string>();
    std::string chosen;
    for (const auto& c : arrayAt(r, "chosen")) {
      if (c.is_string()) chosen += (chosen.empty() ? "" : ", ") + c.get<std::string>();
    }
    const bool down = r.value("all_down", false);
    out += "<tr><td>" + e(textAt(r, "name")) + "</td><td>" + e(to) + "</td><td>" +
           e(textAt(r, "policy")) + "</td><td class=\"state " + (down ? "down" : "up") + "\">" +
           e(down ? "ALL DOWN" : chosen) + "</td><td>" + e(textAt(r, "why")) + "</td></tr>";
  }
  if (arrayAt(status, "routes").empty()) out += "<tr><td colspan=\"5\">no route sets</td></tr>";
  out += "</tbody></table></div>";

  out +=
      "<h2>OpenVPN</h2><div class=\"scroll\"><table id=\"clients\"><thead><tr><th>instance</th>"
      "<th>client</th><th>address</th><th>in</th><th>out</th><th>since</th></tr></thead><tbody>";
  for (const auto& instance : arrayAt(status, "clients")) {
    const auto& list = arrayAt(instance, "clients");
    out += "<tr class=\"group\"><td>" + e(textAt(instance, "instance")) + " <small>(" +
           e(textAt(instance, "kind")) + ", " + e(textAt(instance, "subnet")) +
           ")</small></td><td colspan=\"5\">" + e(textAt(instance, "connected")) + " connected" +
           (instance.value("management_connected", false) ? "" : " (management not connected)") +
           (full ? "" : " <small>(who: with the token)</small>") + "</td></tr>";
    for (const auto& c : list) {
      out += "<tr><td></td><td>" + e(textAt(c, "common_name")) + "</td><td>" +
             e(textAt(c, "virtual_address")) + "</td><td>" +
             e(bytes(c.value("bytes_received", std::uint64_t{0}))) + "</td><td>" +
             e(bytes(c.value("bytes_sent", std::uint64_t{0}))) + "</td><td>" +
             e(clock(integerAt(c, "connected_since") * 1000)) + "</td></tr>";
    }
  }
  if (arrayAt(status, "clients").empty())
    out += "<tr><td colspan=\"6\">no OpenVPN instances</td></tr>";
  out += "</tbody></table></div>";

  out +=
      "<h2>Tunnels</h2><div class=\"scroll\"><table id=\"backends\"><thead><tr><th>backend</th>"
      "<th>state</th><th>pid</th><th>restarts</th><th>for</th><th>last "
      "exit</th></tr></thead><tbody>";
  for (const auto& b : arrayAt(status, "backends")) {
    const std::string state = textAt(b, "state");
    out += "<tr><td>" + e(textAt(b, "id")) + "</td><td class=\"state " +
           (state == "running"  ? "up"
            : state == "failed" ? "down"
                                : "unknown") +
           "\">" + e(state) + "</td><td>" + e(textAt(b, "pid")) + "</td><td>" +
           e(textAt(b, "restarts")) + "</td><td>" + e(duration(integerAt(b, "since_ms"), now)) +
           "</td><td>" + e(textAt(b, "last_exit")) + "</td></tr>";
  }
  out += "</tbody></table></div>";

  out +=
      "<h2>Mesh nodes seen by tinc</h2><div class=\"scroll\"><table id=\"mesh\"><thead><tr>"
      "<th>node</th><th>state</th><th>address</th><th>for</th></tr></thead><tbody>";
  for (const auto& m : arrayAt(status, "mesh")) {
    const bool up = m.value("up", false);
    out += "<tr><td>" + e(textAt(m, "name")) + "</td><td class=\"state " + (up ? "up" : "down") +
           "\">" + (up ? "up" : "down") + "</td><td>" +
           (full ? e(textAt(m, "remote_address")) : "<small>with the token</small>") + "</td><td>" +
           e(duration(integerAt(m, "since_ms"), now)) + "</td></tr>";
  }
  if (arrayAt(status, "mesh").empty()) out += "<tr><td colspan=\"4\">none yet</td></tr>";
  out += "</tbody></table></div>";

  out += "<h2>Recent events</h2><ol id=\"events\" reversed>";
  const auto& events = arrayAt(status, "events");
  const std::size_t shown = std::min<std::size_t>(events.size(), 30);
  for (std::size_t i = 0; i < shown; ++i) {
    const auto& ev = events[events.size() - 1 - i];
    out += "<li><time>" + e(clock(integerAt(ev, "at_ms"))) + "</time> <span class=\"src\">" +
           e(textAt(ev, "source")) + "</span> " + e(textAt(ev, "what")) + "</li>";
  }
  if (events.empty()) out += "<li>nothing yet</li>";
  out += "</ol></div>";
  return out;
}

std::string renderPage(const json& status) {
  std::string out;
  out.reserve(24576);
  out +=
      "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
      "<noscript><meta http-equiv=\"refresh\" content=\"5\"></noscript>"
      "<title>meshbroker " +
      e(textAt(status, "node")) +
      "</title><style>"
      "body{font:15px/1.4 system-ui,sans-serif;margin:0 auto;max-width:1000px;padding:8px 12px;"
      "color:#1b1f23;background:#fafafa}"
      "h1{font-size:20px;margin:4px 0}h2{font-size:16px;margin:18px 0 6px}"
      ".headline{padding:8px 12px;border-radius:6px;font-weight:600;margin:8px 0}"
      ".headline.ok{background:#dcf5e3;color:#0b5a26}.headline.warn{background:#fff1cc;color:#"
      "6b4e00}"
      ".headline.bad{background:#fdd;color:#8a0d0d}.meta{color:#555;font-size:13px;margin:4px 0}"
      "#stale{display:none;background:#8a0d0d;color:#fff;padding:6px 10px;border-radius:6px}"
      "body.stale #stale{display:block}"
      "figure{margin:8px 0;background:#fff;border:1px solid #ddd;border-radius:6px}"
      "svg{width:100%;height:auto;display:block}"
      "svg text{font:13px system-ui,sans-serif;text-anchor:middle;fill:#1b1f23}"
      "svg text.name{font-weight:700}svg text.col{fill:#666;font-size:12px}"
      ".node rect{fill:#eee;stroke:#999;stroke-width:1.5}"
      ".node.self rect{fill:#e3ecff;stroke:#3057c9;stroke-width:2.5}"
      ".node.up rect{fill:#dcf5e3;stroke:#1a8a3c}.node.degraded rect{fill:#fff1cc;stroke:#b58300}"
      ".node.down rect{fill:#fdd;stroke:#c62828}.node.drained rect{fill:#eee;stroke:#777;"
      "stroke-dasharray:5 3}.node.mesh rect{fill:#f1f7ef;stroke:#5c8a4a;stroke-dasharray:3 3}"
      ".node.active rect{stroke-width:3.5}"
      ".link{stroke:#aaa;stroke-width:2}.link.up{stroke:#1a8a3c}.link.degraded{stroke:#b58300}"
      ".link.down{stroke:#c62828;stroke-dasharray:6 4}.link.drained{stroke:#999;"
      "stroke-dasharray:2 4}.link.active{stroke-width:5}"
      ".scroll{overflow-x:auto}table{border-collapse:collapse;width:100%;background:#fff;"
      "font-size:14px}th,td{border-bottom:1px solid #e3e3e3;padding:4px 8px;text-align:left;"
      "white-space:nowrap}th{background:#f0f0f0}tr.group td{background:#f7f7f7;font-weight:600}"
      "td.state.up{color:#0b5a26;font-weight:600}td.state.degraded{color:#6b4e00;font-weight:600}"
      "td.state.down{color:#8a0d0d;font-weight:700}td.state.drained,td.state.unknown{color:#666}"
      "#events{font-size:13px;padding-left:28px}#events time{color:#666}"
      ".src{display:inline-block;min-width:56px;color:#3057c9}"
      "footer{color:#777;font-size:12px;margin:16px 0}#token-form{margin-top:6px}"
      "@media(max-width:600px){body{font-size:14px;padding:6px}td,th{padding:3px 5px}}"
      "</style></head><body><h1>meshbroker: " +
      e(textAt(status, "node")) +
      "</h1><p id=\"stale\">The daemon does not answer: this page shows an old state.</p>"
      "<main id=\"live\">";
  out += renderLive(status);
  out +=
      "</main><footer>JSON: <a href=\"/api/v1/status\">/api/v1/status</a> &middot; "
      "Prometheus: <a href=\"/metrics\">/metrics</a> &middot; refreshes every 2 s"
      "<form id=\"token-form\">Operators: <input id=\"token\" type=\"password\" "
      "autocomplete=\"off\" size=\"24\" placeholder=\"status token\" aria-label=\"status "
      "token\"> <button>show details</button> <button type=\"button\" id=\"forget\">hide "
      "details</button> <span id=\"token-note\"></span></form></footer>"
      // The token lives in this tab's sessionStorage only and goes out as a bearer header on
      // /live; "#token=..." in the address is moved there and wiped from the address bar.
      "<script>(function(){var live=document.getElementById('live');var failures=0;"
      "var KEY='meshbroker-token';var note=document.getElementById('token-note');"
      "function put(t){try{if(t)sessionStorage.setItem(KEY,t);else sessionStorage.removeItem(KEY);"
      "}catch(e){}}"
      "function token(){try{return sessionStorage.getItem(KEY)||'';}catch(e){return '';}}"
      "var m=/^#token=([^&]+)$/.exec(location.hash);if(m){put(decodeURIComponent(m[1]));"
      "history.replaceState(null,'',location.pathname+location.search);}"
      "function tick(){var t=token();var h={};if(t)h.Authorization='Bearer '+t;"
      "fetch('/live',{cache:'no-store',headers:h}).then(function(r){"
      "if(t&&(r.status===401||r.status===403)){put('');"
      "note.textContent='token refused: public view';throw new Error('auth');}"
      "if(!r.ok)throw new Error('HTTP '+r.status);return r.text();}).then(function(html){"
      "live.innerHTML=html;failures=0;document.body.classList.remove('stale');"
      "document.body.setAttribute('data-refreshed',String(Date.now()));"
      "}).catch(function(e){if(e.message==='auth'){tick();return;}"
      "if(++failures>=2)document.body.classList.add('stale');});}"
      "document.getElementById('token-form').addEventListener('submit',function(ev){"
      "ev.preventDefault();var i=document.getElementById('token');put(i.value);i.value='';"
      "note.textContent='';tick();});"
      "document.getElementById('forget').addEventListener('click',function(){put('');"
      "note.textContent='';tick();});"
      "setInterval(tick,2000);tick();})();</script></body></html>";
  return out;
}

}  // namespace meshbroker::web
