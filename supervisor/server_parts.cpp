// The server side of `meshbroker run`: see server_parts.hpp.
#include "supervisor/server_parts.hpp"

#include "backends/openvpn_management.hpp"
#include "io/log.hpp"
#include "model/runtime_layout.hpp"
#include "supervisor/backend_supervisor.hpp"
#include "supervisor/clock.hpp"
#include "supervisor/control_commands.hpp"
#include "supervisor/openvpn_driver.hpp"

namespace meshbroker::supervisor {

using io::Level;
using io::log;

ServerParts::ServerParts(ServerContext context, backends::RateLimiter* rate_limiter)
    : context_(std::move(context)),
      rate_limiter_(rate_limiter),
      crl_(context_.io, context_.config, context_.hooks),
      firewall_(context_.hooks.record),
      usage_(context_.io, model::StateLayout{context_.config.paths.state_dir}.openvpnUsage()),
      quota_(
          context_.config,
          [this](const templates::QuotaBlocked& blocked) {
            firewall_.setQuotaBlocked(blocked);
            firewall_.apply(context_.config);
          },
          context_.hooks) {}

ServerSideFactory ServerParts::factory(backends::RateLimiter* rate_limiter) {
  return [rate_limiter](ServerContext context) -> std::unique_ptr<ServerSide> {
    return std::make_unique<ServerParts>(std::move(context), rate_limiter);
  };
}

void ServerParts::prepare() {
  // Gateways write nothing periodically (flash storage): the ledger lives where OpenVPN runs.
  if (!context_.config.openvpn.empty()) usage_.start();
  // Users over their quota stay refused across a restart: the files and the firewall before
  // openvpn starts.
  quota_.apply(usage_.users(), wallClockMs() / 1000);
}

void ServerParts::configured(const config::NodeConfig* before) {
  firewall_.apply(context_.config);
  if (!before) return;
  for (const auto& instance : before->openvpn) {
    if (auto* driver = dynamic_cast<OpenVpnDriver*>(
            context_.backends.driver(BackendId::openvpn(instance.name.str()).str()))) {
      driver->reshape(instance);
    }
  }
  if (!context_.config.openvpn.empty()) usage_.start();
  quota_.apply(usage_.users(), wallClockMs() / 1000);
}

std::shared_ptr<BackendDriver> ServerParts::makeDriver(const BackendId& id) {
  auto driver =
      std::make_shared<OpenVpnDriver>(context_.io, context_.config, id.instance, context_.backends,
                                      rate_limiter_, context_.config_file, context_.hooks);
  std::weak_ptr<OpenVpnDriver> weak = driver;
  driver->setUsageSink([this, weak](const std::string& instance, bool shared,
                                    const std::vector<model::ConnectedClient>& clients) {
    usage_.observe(instance, shared, clients);
    auto end = quota_.afterPoll(instance, shared, clients, usage_.users(), wallClockMs() / 1000);
    if (auto d = weak.lock(); d && !end.empty()) d->endSessions(end, "over the monthly quota");
  });
  return driver;
}

void ServerParts::addCommands(ControlCommands& table) {
  auto fail = [](const ControlCommands::Reply& reply, const std::string& message) {
    reply({{"ok", false}, {"error", message}});
  };
  auto field = [](const nlohmann::json& request, const char* key) {
    auto it = request.find(key);
    return it != request.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  table.add("openvpn", [this, fail, field](const nlohmann::json& request, const std::string& caller,
                                           const auto& reply) {
    std::string instance = field(request, "instance");
    std::string line = field(request, "line");
    const std::string id = "openvpn-" + instance;
    auto* driver = dynamic_cast<OpenVpnDriver*>(context_.backends.driver(id));
    if (instance.empty() || !driver) {
      return fail(reply, "no OpenVPN instance named \"" + instance + "\"");
    }
    if (!backends::allowedManagementCommand(line)) {
      return fail(reply, "management command not allowed (status, kill NAME, client-kill ID)");
    }
    bool sent = driver->command(line, [reply](bool ok, const std::vector<std::string>& lines) {
      reply({{"ok", ok}, {"lines", lines}});
    });
    if (!sent) {
      return fail(reply, id + " is not connected (state " +
                             std::string(toString(context_.backends.state(id))) + ")");
    }
    log(Level::kNotice, "control (" + caller + "): " + id + ": " + line);
    if (!line.starts_with("status")) {
      context_.hooks.record("operator", id + ": " + line + " (" + caller + ")");
    }
  });
}

void ServerParts::finish(bool handing_over) {
  usage_.stop();  // the last figures: the OpenVPN instances are down now
  // The backends it guarded are stopped: so is the table (a crash leaves it for the next start,
  // and so does a handover: the backends it guards keep running).
  if (!handing_over) firewall_.remove(context_.config.supervisor.nft);
}

void ServerParts::fill(model::Snapshot& s) const {
  s.pki = crl_.state();
  s.usage = usage_.users();
  for (const auto& block : quota_.blocks()) {
    s.over_quota_until_s[block.instance + "/" + block.user] = block.until_s;
  }
}

}  // namespace meshbroker::supervisor
