// The daemon's control commands: see control_commands.hpp.
#include "supervisor/control_commands.hpp"

#include <unistd.h>

#include "io/log.hpp"
#include "network/invitation.hpp"
#include "supervisor/backend_supervisor.hpp"
#include "supervisor/gateway_monitor.hpp"
#include "supervisor/network_sync.hpp"
#include "supervisor/status_publisher.hpp"

namespace meshbroker::supervisor {

using io::Level;
using io::log;

namespace {

std::string stringField(const nlohmann::json& request, const char* key) {
  auto it = request.find(key);
  return it != request.end() && it->is_string() ? it->get<std::string>() : std::string();
}

void fail(const ControlCommands::Reply& reply, const std::string& message) {
  reply({{"ok", false}, {"error", message}});
}

}  // namespace

void ControlCommands::add(std::string name, Handler handler) {
  if (!handlers_.contains(name)) names_.push_back(name);
  handlers_[std::move(name)] = std::move(handler);
}

void ControlCommands::run(const nlohmann::json& request, const std::string& caller,
                          const Reply& reply) const {
  auto it = handlers_.find(stringField(request, "command"));
  if (it != handlers_.end()) return it->second(request, caller, reply);
  std::string known;
  for (const auto& name : names_) known += (known.empty() ? "" : ", ") + name;
  fail(reply, "unknown command (" + known + ")");
}

ControlCommands daemonCommands(ControlParts p) {
  ControlCommands table;
  table.add("status", [p](const nlohmann::json&, const std::string&, const auto& reply) {
    // One document (status.json's, /api/v1/status's with the token); "api" too, as the CLI of
    // the previous release reads it.
    auto document = p.status.document();
    reply({{"ok", true}, {"status", document}, {"api", document}});
  });
  table.add("restart",
            [p](const nlohmann::json& request, const std::string& caller, const auto& reply) {
              std::string id = stringField(request, "backend");
              if (!p.backends.exists(id)) return fail(reply, "no backend named \"" + id + "\"");
              log(Level::kNotice, "control (" + caller + "): restart " + id);
              p.status.record("operator", "restart " + id + " (" + caller + ")");
              p.backends.restart(id, "operator request");
              reply({{"ok", true}});
            });
  table.add("reload", [p](const nlohmann::json&, const std::string&, const auto& reply) {
    auto report = p.reload();
    reply({{"ok", report.ok}, {"errors", report.errors}});
  });
  table.add("handover", [p](const nlohmann::json&, const std::string& caller, const auto& reply) {
    log(Level::kNotice, "control (" + caller + "): handover");
    reply({{"ok", true}, {"pid", static_cast<int>(::getpid())}});
    asio::post(p.io, p.handover);  // after the reply is on its way
  });
  table.add("routes", [p](const nlohmann::json&, const std::string&, const auto& reply) {
    if (!p.monitor) return fail(reply, "health checks and routes are not running");
    reply({{"ok", true}, {"changes", p.monitor->dryRun()}, {"health", p.monitor->toJson()}});
  });
  for (const char* verb : {"drain", "undrain"}) {
    table.add(verb, [p, verb = std::string(verb)](const nlohmann::json& request,
                                                  const std::string& caller, const auto& reply) {
      std::string peer = stringField(request, "gateway");
      if (!p.monitor || !p.monitor->drain(peer, verb == "drain")) {
        return fail(reply, "no probed gateway named \"" + peer + "\"");
      }
      log(Level::kNotice, "control (" + caller + "): " + verb + " " + peer);
      p.status.record("operator", verb + " " + peer + " (" + caller + ")");
      reply({{"ok", true}});
    });
  }
  table.add("node-remove",
            [p](const nlohmann::json& request, const std::string& caller, const auto& reply) {
              const std::string name = stringField(request, "name");
              const auto why = p.remove_node ? p.remove_node(name) : std::string("no network here");
              if (!why.empty()) return fail(reply, why);
              log(Level::kNotice, "control (" + caller + "): node remove " + name);
              p.status.record("operator", "node remove " + name + " (" + caller + ")");
              reply({{"ok", true}});
            });
  table.add("invite", [p](const nlohmann::json& request, const std::string& caller,
                          const auto& reply) {
    if (!p.network) return fail(reply, "no network here");
    network::InviteAsk ask{stringField(request, "name"), stringField(request, "role"), {}, {}};
    if (request.contains("mesh_address")) ask.mesh_address = stringField(request, "mesh_address");
    if (request.contains("mesh_address6")) {
      ask.mesh_address6 = stringField(request, "mesh_address6");
    }
    std::int64_t ttl_s = 24 * 3600;
    if (request.contains("ttl_s")) {
      if (!request["ttl_s"].is_number_integer()) return fail(reply, "ttl_s is not a number");
      ttl_s = request["ttl_s"].get<std::int64_t>();
    }
    if (ttl_s <= 0 || ttl_s > 30 * 86400) {
      return fail(reply, "the time to live must be between 1 s and 30 days");
    }
    auto made = p.network->invite(ask, ttl_s * 1000, stringField(request, "address"));
    if (!made.error.empty()) return fail(reply, made.error);
    p.status.record("operator", "invite " + made.invitation.name + " (" + caller + ")");
    reply({{"ok", true}, {"line", made.line}, {"invitation", network::toJson(made.invitation)}});
  });
  table.add("invite-list", [p](const nlohmann::json&, const std::string&, const auto& reply) {
    if (!p.network) return fail(reply, "no network here");
    auto list = nlohmann::json::array();
    for (const auto& i : p.network->invitations()) {
      auto entry = network::toJson(i);
      entry.erase("key");  // the token's stand-in: never out of the registry's record
      list.push_back(std::move(entry));
    }
    reply({{"ok", true}, {"invitations", list}});
  });
  table.add("invite-revoke", [p](const nlohmann::json& request, const std::string& caller,
                                 const auto& reply) {
    if (!p.network) return fail(reply, "no network here");
    if (auto why = p.network->revokeInvitation(stringField(request, "invitation")); !why.empty()) {
      return fail(reply, why);
    }
    p.status.record("operator", "invite --revoke (" + caller + ")");
    reply({{"ok", true}});
  });
  return table;
}

}  // namespace meshbroker::supervisor
