// The control socket's commands as a table: name -> handler. `status`, `restart`, `reload`,
// `handover`, `routes`, `drain`, `undrain`, `node-remove`, `invite`, `invite-list`,
// `invite-revoke` (docs/supervisor.md, "Control socket"); a server side adds `openvpn`
// (server_parts.cpp).
// A handler answers by calling reply exactly once, possibly later. Event loop only.
#pragma once

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "io/asio.hpp"
#include "model/snapshot.hpp"
#include "supervisor/control_socket.hpp"

namespace meshbroker::supervisor {

class BackendSupervisor;
class GatewayMonitor;
class NetworkSync;
class StatusPublisher;

class ControlCommands {
 public:
  using Reply = ControlSocket::Reply;
  // caller names who asked, for the log and the events.
  using Handler = std::function<void(const nlohmann::json& request, const std::string& caller,
                                     const Reply& reply)>;

  void add(std::string name, Handler handler);
  void run(const nlohmann::json& request, const std::string& caller, const Reply& reply) const;

 private:
  std::vector<std::string> names_;  // in the order added, for the error message
  std::map<std::string, Handler> handlers_;
};

// What the daemon's commands act on.
struct ControlParts {
  asio::io_context& io;
  BackendSupervisor& backends;
  StatusPublisher& status;
  GatewayMonitor* monitor;                        // nullptr: no health checks here
  std::function<model::ReloadSnapshot()> reload;  // reloads, returns how it went
  std::function<void()> handover;
  // The registry takes a node out of the network: "" when done, else why not.
  std::function<std::string(const std::string& name)> remove_node;
  NetworkSync* network = nullptr;  // invitations (the registry)
};

ControlCommands daemonCommands(ControlParts parts);

}  // namespace meshbroker::supervisor
