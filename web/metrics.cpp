// Prometheus metrics from the status document. Names follow the Prometheus conventions (base
// units, _total for counters, one HELP and TYPE per family); `promtool check metrics` passes.
#include "web/metrics.hpp"

#include <cstdio>
#include <string>
#include <vector>

namespace meshbroker::web {
namespace {

using nlohmann::json;

std::string number(double value) {
  char text[64];
  std::snprintf(text, sizeof text, "%.17g", value);
  return text;
}

double asNumber(const json& value) { return value.is_number() ? value.get<double>() : 0.0; }

class Family {
 public:
  Family(std::string& out, const char* name, const char* type, const char* help)
      : out_(out), name_(name) {
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    out_ += help;
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
  }
  // labels: {"gateway", "cometa", "check", "icmp"} (name, value pairs).
  Family& sample(std::initializer_list<std::string_view> labels, double value) {
    out_ += name_;
    if (labels.size() > 0) {
      out_ += '{';
      bool first = true;
      for (auto it = labels.begin(); it != labels.end() && it + 1 != labels.end(); it += 2) {
        if (!first) out_ += ',';
        first = false;
        out_ += *it;
        out_ += "=\"";
        out_ += escapeLabel(*(it + 1));
        out_ += '"';
      }
      out_ += '}';
    }
    out_ += ' ';
    out_ += number(value);
    out_ += '\n';
    return *this;
  }

 private:
  std::string& out_;
  std::string name_;
};

const json& list(const json& status, const char* key) {
  static const json empty = json::array();
  auto it = status.find(key);
  return it != status.end() && it->is_array() ? *it : empty;
}

std::string text(const json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

std::string escapeLabel(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string renderMetrics(const json& status) {
  std::string out;
  out.reserve(4096);
  const json daemon = status.value("daemon", json::object());
  const std::string node = text(status, "node");

  Family(out, "meshbroker_build_info", "gauge", "Always 1; the labels say which meshbroker runs.")
      .sample({"version", text(daemon, "version"), "node", node, "role", text(daemon, "role")}, 1);
  Family(out, "meshbroker_start_time_seconds", "gauge",
         "When this meshbroker started, in seconds since the Unix epoch.")
      .sample({}, asNumber(daemon.value("started_ms", json(0))) / 1000.0);
  Family(out, "meshbroker_snapshot_generation", "gauge",
         "Generation of the state snapshot these metrics come from (grows with every change).")
      .sample({}, asNumber(status.value("generation", json(0))));
  Family(out, "meshbroker_snapshot_timestamp_seconds", "gauge",
         "When the state snapshot was taken, in seconds since the Unix epoch.")
      .sample({}, asNumber(status.value("updated_ms", json(0))) / 1000.0);

  const auto& backends = list(status, "backends");
  {
    Family up(out, "meshbroker_backend_up", "gauge",
              "1 when the backend (tincd or an OpenVPN instance) is running and ready.");
    for (const auto& b : backends)
      up.sample({"backend", text(b, "id")}, text(b, "state") == "running");
  }
  {
    Family failed(out, "meshbroker_backend_failed", "gauge",
                  "1 when the backend crashed too often and is no longer restarted.");
    for (const auto& b : backends) {
      failed.sample({"backend", text(b, "id")}, text(b, "state") == "failed");
    }
  }
  {
    Family restarts(out, "meshbroker_backend_restarts_total", "counter",
                    "Restarts of the backend since meshbroker started.");
    for (const auto& b : backends) {
      restarts.sample({"backend", text(b, "id")}, asNumber(b.value("restarts", json(0))));
    }
  }

  const auto& gateways = list(status, "gateways");
  {
    Family up(out, "meshbroker_gateway_up", "gauge",
              "1 when the probed peer (a gateway on a server) answers its health checks.");
    for (const auto& g : gateways) up.sample({"gateway", text(g, "name")}, g.value("up", false));
  }
  {
    Family degraded(out, "meshbroker_gateway_degraded", "gauge",
                    "1 when the gateway answers but the mesh behind it does not.");
    for (const auto& g : gateways) {
      degraded.sample({"gateway", text(g, "name")}, text(g, "verdict") == "degraded");
    }
  }
  {
    Family drained(out, "meshbroker_gateway_drained", "gauge",
                   "1 when an operator took the gateway out of its route sets.");
    for (const auto& g : gateways) {
      drained.sample({"gateway", text(g, "name")}, g.value("drained", false));
    }
  }
  {
    Family rtt(out, "meshbroker_gateway_rtt_seconds", "gauge",
               "Smoothed round-trip time of the gateway's ICMP health check.");
    for (const auto& g : gateways) {
      if (g.contains("rtt_ms"))
        rtt.sample({"gateway", text(g, "name")}, asNumber(g["rtt_ms"]) / 1000.0);
    }
  }
  {
    Family loss(out, "meshbroker_gateway_probe_loss_ratio", "gauge",
                "Share of the recent probes of a check that got no reply (0..1).");
    for (const auto& g : gateways) {
      const json checks = g.value("checks", json::object());  // named: items() must not dangle
      for (const auto& [check, c] : checks.items()) {
        loss.sample({"gateway", text(g, "name"), "check", check},
                    asNumber(c.value("loss_pct", json(0))) / 100.0);
      }
    }
  }
  {
    Family sent(out, "meshbroker_gateway_probes_sent_total", "counter",
                "Health-check probes sent to the gateway.");
    for (const auto& g : gateways) {
      const json checks = g.value("checks", json::object());  // named: items() must not dangle
      for (const auto& [check, c] : checks.items()) {
        sent.sample({"gateway", text(g, "name"), "check", check},
                    asNumber(c.value("sent", json(0))));
      }
    }
  }
  {
    Family replies(out, "meshbroker_gateway_probe_replies_total", "counter",
                   "Health-check replies received from the gateway.");
    for (const auto& g : gateways) {
      const json checks = g.value("checks", json::object());  // named: items() must not dangle
      for (const auto& [check, c] : checks.items()) {
        replies.sample({"gateway", text(g, "name"), "check", check},
                       asNumber(c.value("replies", json(0))));
      }
    }
  }

  const auto& routes = list(status, "routes");
  {
    Family hops(out, "meshbroker_route_set_next_hops", "gauge",
                "Gateways the route set's kernel routes point at now (0: all down).");
    for (const auto& r : routes) {
      hops.sample({"route_set", text(r, "name")}, asNumber(r.value("next_hops", json(0))));
    }
  }
  {
    Family down(out, "meshbroker_route_set_all_down", "gauge",
                "1 when no gateway of the route set is usable.");
    for (const auto& r : routes)
      down.sample({"route_set", text(r, "name")}, r.value("all_down", false));
  }
  {
    Family errors(out, "meshbroker_route_errors", "gauge",
                  "Route changes the kernel refused in the last reconcile.");
    errors.sample({}, static_cast<double>(daemon.value("route_errors", json::array()).size()));
  }

  {
    Family up(out, "meshbroker_mesh_node_up", "gauge",
              "1 while tinc reports a direct or indirect connection to the mesh node.");
    for (const auto& m : list(status, "mesh"))
      up.sample({"node", text(m, "name")}, m.value("up", false));
  }

  const auto& clients = list(status, "clients");
  {
    Family connected(out, "meshbroker_openvpn_clients", "gauge",
                     "OpenVPN clients connected to the instance now.");
    for (const auto& c : clients) {
      connected.sample({"instance", text(c, "instance")}, asNumber(c.value("connected", json(0))));
    }
  }
  {
    Family received(out, "meshbroker_openvpn_clients_received_bytes", "gauge",
                    "Bytes received from the connected clients, summed over their sessions.");
    for (const auto& c : clients) {
      received.sample({"instance", text(c, "instance")},
                      asNumber(c.value("bytes_received", json(0))));
    }
  }
  {
    Family sent(out, "meshbroker_openvpn_clients_sent_bytes", "gauge",
                "Bytes sent to the connected clients, summed over their sessions.");
    for (const auto& c : clients) {
      sent.sample({"instance", text(c, "instance")}, asNumber(c.value("bytes_sent", json(0))));
    }
  }
  {
    Family management(out, "meshbroker_openvpn_management_connected", "gauge",
                      "1 while meshbroker is connected to the instance's management interface.");
    for (const auto& c : clients) {
      management.sample({"instance", text(c, "instance")}, c.value("management_connected", false));
    }
  }

  const json timer = daemon.value("probe_timer", json::object());
  if (timer.contains("lateness_p99_ms")) {
    Family(out, "meshbroker_probe_timer_lateness_p99_seconds", "gauge",
           "99th percentile of how late the probe timer fired, over its last wakes.")
        .sample({}, asNumber(timer["lateness_p99_ms"]) / 1000.0);
    Family(out, "meshbroker_probe_timer_lateness_max_seconds", "gauge",
           "Largest delay of the probe timer over its last wakes.")
        .sample({}, asNumber(timer.value("lateness_max_ms", json(0))) / 1000.0);
  }
  if (timer.contains("wakeups")) {
    Family(out, "meshbroker_probe_timer_wakeups_total", "counter", "Times the probe timer fired.")
        .sample({}, asNumber(timer["wakeups"]));
  }
  return out;
}

}  // namespace meshbroker::web
