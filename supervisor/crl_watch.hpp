// Hourly, where OpenVPN runs: the CA holder refreshes CRLs that are due (pki.hpp); every node
// reports their expiry (status, metrics) and warns a week ahead (crlAdvice).
#pragma once

#include <chrono>
#include <functional>
#include <string>

#include "config/model.hpp"
#include "io/asio.hpp"
#include "model/snapshot.hpp"
#include "supervisor/part_hooks.hpp"
#include "supervisor/periodic.hpp"

namespace meshbroker::supervisor {

class CrlWatch {
 public:
  using Hooks = PartHooks;
  CrlWatch(asio::io_context& io, const config::NodeConfig& config, Hooks hooks)
      : config_(config), hooks_(std::move(hooks)), tick_(io) {}

  // Checks after `after`, then hourly (start, and again after a reload).
  void arm(std::chrono::seconds after);
  void stop() { tick_.stop(); }
  const model::PkiSnapshot& state() const { return state_; }

 private:
  void check();

  const config::NodeConfig& config_;
  Hooks hooks_;
  Periodic tick_;
  model::PkiSnapshot state_;
};

}  // namespace meshbroker::supervisor
