// What only a server runs beside tinc (OpenVPN instances, the CRL watch, usage and quota, the
// nftables table), as one part the composition root gives the daemon or not. A gateway-only
// build (MESHBROKER_GATEWAY_ONLY) has no such part: server_parts.* is not even compiled.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>

#include "config/model.hpp"
#include "io/asio.hpp"
#include "model/snapshot.hpp"
#include "supervisor/backend_driver.hpp"
#include "supervisor/part_hooks.hpp"

namespace meshbroker::supervisor {

class BackendSupervisor;
class ControlCommands;

// What the server side acts on: the daemon's own, alive as long as the daemon.
struct ServerContext {
  asio::io_context& io;
  const config::NodeConfig& config;  // the daemon's, replaced in place at reload
  BackendSupervisor& backends;
  PartHooks hooks;
  std::filesystem::path config_file;  // what the OpenVPN hooks are told
};

class ServerSide {
 public:
  virtual ~ServerSide() = default;

  // At start, before the files are rendered and any backend starts: what must be in place
  // before openvpn runs (usage ledger, quota blocks).
  virtual void prepare() = 0;
  // The config is in place (start: after the files are written; reload: after the new files
  // are): the firewall; at a reload (`before` set) also reshaping and quotas.
  virtual void configured(const config::NodeConfig* before) = 0;
  // The driver of OpenVPN instance `id` (the supervisor asks; tinc's is the daemon's own).
  virtual std::shared_ptr<BackendDriver> makeDriver(const BackendId& id) = 0;
  // Its control commands ("openvpn").
  virtual void addCommands(ControlCommands& table) = 0;
  // After a start or reload: look at the PKI (CRLs) now.
  virtual void checkPki() = 0;
  // Shutdown and handover begin: no more timers of its own.
  virtual void stop() = 0;
  // The backends are down (or let go, handing_over): last figures, the firewall table.
  virtual void finish(bool handing_over) = 0;
  // Its parts of the snapshot (PKI, usage, quota blocks).
  virtual void fill(model::Snapshot& snapshot) const = 0;
};

// The composition root's way to add a server side: called once by the daemon's constructor.
using ServerSideFactory = std::function<std::unique_ptr<ServerSide>(ServerContext)>;

}  // namespace meshbroker::supervisor
