// The server side of `meshbroker run` (server_side.hpp): OpenVPN instances' drivers, the CRL
// watch, the usage ledger, quotas and meshbroker's nftables table. Not in a gateway-only build.
#pragma once

#include "backends/rate_limit.hpp"
#include "supervisor/crl_watch.hpp"
#include "supervisor/firewall.hpp"
#include "supervisor/quota_keeper.hpp"
#include "supervisor/server_side.hpp"
#include "supervisor/usage_keeper.hpp"

namespace meshbroker::supervisor {

class ServerParts final : public ServerSide {
 public:
  // rate_limiter shapes public OpenVPN instances (nullptr: no shaping, e.g. in unit tests).
  ServerParts(ServerContext context, backends::RateLimiter* rate_limiter);

  // A factory for Daemon: ServerParts with this rate limiter (may be nullptr).
  static ServerSideFactory factory(backends::RateLimiter* rate_limiter);

  void prepare() override;
  void configured(const config::NodeConfig* before) override;
  std::shared_ptr<BackendDriver> makeDriver(const BackendId& id) override;
  void addCommands(ControlCommands& table) override;
  void checkPki() override { crl_.arm(std::chrono::seconds(0)); }
  void stop() override { crl_.stop(); }
  void finish(bool handing_over) override;
  void fill(model::Snapshot& snapshot) const override;

 private:
  ServerContext context_;
  backends::RateLimiter* rate_limiter_;
  CrlWatch crl_;
  Firewall firewall_;
  UsageKeeper usage_;  // started only on a node with OpenVPN instances
  QuotaKeeper quota_;
};

}  // namespace meshbroker::supervisor
