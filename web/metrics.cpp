// Prometheus metrics from the status document. Names follow the Prometheus conventions (base
// units, _total for counters, one HELP and TYPE per family); `promtool check metrics` passes.
#include "web/metrics.hpp"

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "web/json_fields.hpp"

namespace meshbroker::web {
namespace {

using nlohmann::json;

std::string number(double value) {
  char text[64];
  std::snprintf(text, sizeof text, "%.17g", value);
  return text;
}

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

// A family with one sample per item of `items`, labelled label="<item[name_key]>".
template <class Value>
void perItem(std::string& out, const char* name, const char* type, const char* help,
             const json& items, const char* label, const char* name_key, Value value) {
  Family family(out, name, type, help);
  for (const auto& item : items) family.sample({label, textAt(item, name_key)}, value(item));
}

// The same per health check of each gateway: gateway="...", check="icmp".
template <class Value>
void perCheck(std::string& out, const char* name, const char* type, const char* help,
              const json& gateways, Value value) {
  Family family(out, name, type, help);
  for (const auto& g : gateways) {
    for (const auto& [check, c] : member(g, "checks").items()) {
      family.sample({"gateway", textAt(g, "name"), "check", check}, value(c));
    }
  }
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
  const json& daemon = member(status, "daemon");
  auto field = [](const char* key) {
    return [key](const json& item) { return numberAt(item, key); };
  };
  auto flag = [](const char* key) { return [key](const json& item) { return boolAt(item, key); }; };
  auto is = [](const char* key, const char* value) {
    return [key, value](const json& item) { return textAt(item, key) == value; };
  };

  Family(out, "meshbroker_build_info", "gauge", "Always 1; the labels say which meshbroker runs.")
      .sample({"version", textAt(daemon, "version"), "node", textAt(status, "node"), "role",
               textAt(daemon, "role")},
              1);
  Family(out, "meshbroker_start_time_seconds", "gauge",
         "When this meshbroker started, in seconds since the Unix epoch.")
      .sample({}, numberAt(daemon, "started_ms") / 1000.0);
  Family(out, "meshbroker_snapshot_generation", "gauge",
         "Generation of the state snapshot these metrics come from (grows with every change).")
      .sample({}, numberAt(status, "generation"));
  Family(out, "meshbroker_snapshot_timestamp_seconds", "gauge",
         "When the state snapshot was taken, in seconds since the Unix epoch.")
      .sample({}, numberAt(status, "updated_ms") / 1000.0);

  const auto& backends = arrayAt(status, "backends");
  perItem(out, "meshbroker_backend_up", "gauge",
          "1 when the backend (tincd or an OpenVPN instance) is running and ready.", backends,
          "backend", "id", is("state", "running"));
  perItem(out, "meshbroker_backend_failed", "gauge",
          "1 when the backend crashed too often and is no longer restarted.", backends, "backend",
          "id", is("state", "failed"));
  perItem(out, "meshbroker_backend_restarts_total", "counter",
          "Restarts of the backend since meshbroker started.", backends, "backend", "id",
          field("restarts"));

  const auto& gateways = arrayAt(status, "gateways");
  perItem(out, "meshbroker_gateway_up", "gauge",
          "1 when the probed peer (a gateway on a server) answers its health checks.", gateways,
          "gateway", "name", flag("up"));
  perItem(out, "meshbroker_gateway_degraded", "gauge",
          "1 when the gateway answers but the mesh behind it does not.", gateways, "gateway",
          "name", is("verdict", "degraded"));
  perItem(out, "meshbroker_gateway_drained", "gauge",
          "1 when an operator took the gateway out of its route sets.", gateways, "gateway", "name",
          flag("drained"));
  {
    Family rtt(out, "meshbroker_gateway_rtt_seconds", "gauge",
               "Smoothed round-trip time of the gateway's ICMP health check.");
    for (const auto& g : gateways) {  // no sample for a gateway that never replied
      if (!optionalMember(g, "rtt_ms").is_null()) {
        rtt.sample({"gateway", textAt(g, "name")}, numberAt(g, "rtt_ms") / 1000.0);
      }
    }
  }
  {
    Family since(out, "meshbroker_gateway_verdict_since_timestamp_seconds", "gauge",
                 "When the gateway's verdict (up, degraded, down) last changed.");
    for (const auto& g : gateways) {  // no sample before a first change
      if (integerAt(g, "verdict_since_ms") > 0) {
        since.sample({"gateway", textAt(g, "name")}, numberAt(g, "verdict_since_ms") / 1000.0);
      }
    }
  }
  perCheck(out, "meshbroker_gateway_probe_loss_ratio", "gauge",
           "Share of the recent probes of a check that got no reply (0..1).", gateways,
           [](const json& c) { return numberAt(c, "loss_pct") / 100.0; });
  perCheck(out, "meshbroker_gateway_probes_sent_total", "counter",
           "Health-check probes sent to the gateway.", gateways, field("sent"));
  perCheck(out, "meshbroker_gateway_probe_replies_total", "counter",
           "Health-check replies received from the gateway.", gateways, field("replies"));

  const auto& routes = arrayAt(status, "routes");
  perItem(out, "meshbroker_route_set_next_hops", "gauge",
          "Gateways the route set's kernel routes point at now (0: all down).", routes, "route_set",
          "name", field("next_hops"));
  perItem(out, "meshbroker_route_set_all_down", "gauge",
          "1 when no gateway of the route set is usable.", routes, "route_set", "name",
          flag("all_down"));
  Family(out, "meshbroker_route_errors", "gauge",
         "Route changes the kernel refused in the last reconcile.")
      .sample({}, static_cast<double>(arrayAt(daemon, "route_errors").size()));
  Family(out, "meshbroker_route_conflicts", "gauge",
         "Route destinations another program also routes with our key: ours stepped aside "
         "to a higher metric.")
      .sample({}, static_cast<double>(arrayAt(daemon, "route_conflicts").size()));

  perItem(out, "meshbroker_mesh_node_up", "gauge",
          "1 while tinc reports a direct or indirect connection to the mesh node.",
          arrayAt(status, "mesh"), "node", "name", flag("up"));

  const auto& clients = arrayAt(status, "clients");
  perItem(out, "meshbroker_openvpn_clients", "gauge",
          "OpenVPN clients connected to the instance now.", clients, "instance", "instance",
          field("connected"));
  perItem(out, "meshbroker_openvpn_clients_received_bytes", "gauge",
          "Bytes received from the connected clients, summed over their sessions.", clients,
          "instance", "instance", field("bytes_received"));
  perItem(out, "meshbroker_openvpn_clients_sent_bytes", "gauge",
          "Bytes sent to the connected clients, summed over their sessions.", clients, "instance",
          "instance", field("bytes_sent"));
  perItem(out, "meshbroker_openvpn_management_connected", "gauge",
          "1 while meshbroker is connected to the instance's management interface.", clients,
          "instance", "instance", flag("management_connected"));

  // What OpenVPN users used (issue 21). The public view sums each instance; the full view
  // (the bearer token) has one series per user, a bounded number (supervisor/usage_ledger.hpp:
  // 500 users, then "other"). Counters: they survive reconnects and restarts (the state dir).
  const auto& usage = arrayAt(status, "usage");
  const bool per_user =
      std::any_of(usage.begin(), usage.end(), [](const json& u) { return u.contains("user"); });
  auto usageFamily = [&](const char* name, const char* help, const char* key) {
    Family family(out, name, "counter", help);
    for (const auto& u : usage) {
      const double value = numberAt(member(u, "total"), key);
      if (per_user) {
        family.sample({"instance", textAt(u, "instance"), "user", textAt(u, "user")}, value);
      } else {
        family.sample({"instance", textAt(u, "instance")}, value);
      }
    }
  };
  if (per_user) {
    usageFamily("meshbroker_openvpn_user_received_bytes_total",
                "Bytes received from the user (their upload), over all their sessions.",
                "bytes_received");
    usageFamily("meshbroker_openvpn_user_sent_bytes_total",
                "Bytes sent to the user (their download), over all their sessions.", "bytes_sent");
    usageFamily("meshbroker_openvpn_user_connected_seconds_total",
                "Time the user was connected, over all their sessions.", "connected_s");
    usageFamily("meshbroker_openvpn_user_sessions_total", "Sessions the user opened.", "sessions");
  } else {
    usageFamily("meshbroker_openvpn_usage_received_bytes_total",
                "Bytes received from the instance's users, over all their sessions.",
                "bytes_received");
    usageFamily("meshbroker_openvpn_usage_sent_bytes_total",
                "Bytes sent to the instance's users, over all their sessions.", "bytes_sent");
    usageFamily("meshbroker_openvpn_usage_connected_seconds_total",
                "Time the instance's users were connected, summed.", "connected_s");
  }

  // pki: only where OpenVPN runs; probe_timer: only with health checks.
  const json& pki = optionalMember(daemon, "pki");
  if (!pki.is_null()) {
    if (!member(pki, "crl_next_update").is_null()) {
      Family(out, "meshbroker_crl_next_update_timestamp_seconds", "gauge",
             "When the first of this node's OpenVPN CRLs expires (OpenVPN then refuses every "
             "client), in seconds since the Unix epoch.")
          .sample({}, numberAt(pki, "crl_next_update"));
    }
    Family(out, "meshbroker_crl_problem", "gauge",
           "1 when the CRLs need someone: missing, unreadable, or expiring within 7 days.")
        .sample({}, boolAt(pki, "crl_ok") ? 0 : 1);
  }

  const json& net = member(status, "network");  // null without a network section
  if (!net.is_null()) {
    Family(out, "meshbroker_network_document_version", "gauge",
           "Version of the registry's signed network document this node holds (0: none yet).")
        .sample({}, numberAt(net, "version"));
  }

  const json& timer = optionalMember(daemon, "probe_timer");
  if (!timer.is_null() && !optionalMember(timer, "lateness_p99_ms").is_null()) {
    Family(out, "meshbroker_probe_timer_lateness_p99_seconds", "gauge",
           "99th percentile of how late the probe timer fired, over its last wakes.")
        .sample({}, numberAt(timer, "lateness_p99_ms") / 1000.0);
    Family(out, "meshbroker_probe_timer_lateness_max_seconds", "gauge",
           "Largest delay of the probe timer over its last wakes.")
        .sample({}, numberAt(timer, "lateness_max_ms") / 1000.0);
  }
  if (!timer.is_null()) {
    Family(out, "meshbroker_probe_timer_wakeups_total", "counter", "Times the probe timer fired.")
        .sample({}, numberAt(timer, "wakeups"));
  }
  return out;
}

}  // namespace meshbroker::web
