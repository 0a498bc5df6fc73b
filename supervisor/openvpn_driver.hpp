// An OpenVPN instance's driver: openvpn's command line, its PKI files checked before a start,
// its management interface (readiness, the client list polled for status, sessions ended when
// the CRL file revokes their certificate), and the per-client rate limit on its tun device.
#pragma once

#include <array>
#include <filesystem>
#include <functional>
#include <memory>
#include <set>
#include <string>

#include "backends/openvpn_management.hpp"
#include "backends/rate_limit.hpp"
#include "config/model.hpp"
#include "io/asio.hpp"
#include "supervisor/backend_driver.hpp"
#include "supervisor/clock.hpp"
#include "supervisor/periodic.hpp"

namespace meshbroker::supervisor {

class BackendSupervisor;

class OpenVpnDriver final : public BackendDriver {
 public:
  using Hooks = PartHooks;

  // rate_limiter: nullptr for no shaping (unit tests). config_file: named in error messages.
  OpenVpnDriver(asio::io_context& io, const config::NodeConfig& config, std::string instance,
                BackendSupervisor& backends, backends::RateLimiter* rate_limiter,
                std::filesystem::path config_file, Hooks hooks);
  ~OpenVpnDriver() override;

  // The config changed (reload): a changed rate limit is applied without a restart.
  void reshape(const config::OpenVpnInstance& before);
  // A management command (control socket: status, kill, client-kill). False: not connected.
  bool command(const std::string& line, backends::OpenVpnManagement::ReplyHandler on_reply);
  // Each complete status poll's client list goes here too (the usage ledger); none in tests.
  using UsageSink = std::function<void(const std::string& instance, bool shared_certificate,
                                       const std::vector<model::ConnectedClient>& clients)>;
  void setUsageSink(UsageSink sink) { usage_sink_ = std::move(sink); }
  // Shutdown and handover: no more CRL watching.
  void stop() override;

  backends::SpawnSpec spec() const override;
  std::string prepareSpawn() override;
  bool readyWhenAdopted() const override { return false; }
  void attached(std::uint64_t serial, bool adopted) override;
  void detached() override;
  // OpenVPN's echo of the driver's own status polls is dropped; every other line is logged.
  bool consumeLine(std::string_view line) override { return backends::echoesStatusPoll(line); }
  void fill(model::Snapshot& snapshot) const override;
  // Ends these sessions (client-kill by client id), logging each with the reason.
  void endSessions(const std::vector<model::ConnectedClient>& clients, const std::string& reason);

 private:
  const config::OpenVpnInstance* instance() const;
  std::string missingPkiFile() const;
  void poll();
  void shape(int attempt);
  void checkRevocations();
  void endRevokedSessions(const std::set<std::string>& names);
  void endSession(const model::ConnectedClient& client, const std::string& reason);

  asio::io_context& io_;
  const config::NodeConfig& config_;
  std::string name_;
  std::string id_;  // "openvpn-NAME"
  BackendSupervisor& backends_;
  backends::RateLimiter* rate_limiter_;
  std::filesystem::path config_file_;
  Hooks hooks_;
  std::unique_ptr<backends::OpenVpnManagement> management_;
  Timer poll_timer_;
  Timer shape_timer_;
  Periodic revocation_tick_;
  bool shaped_ = false;
  model::OpenVpnSnapshot state_;
  UsageSink usage_sink_;
  // The CRL file as last acted on: inode, size, mtime (ns); {} before the first.
  std::array<std::int64_t, 3> crl_seen_{};
  // Callbacks check it: the management client calls back while it is destroyed.
  std::shared_ptr<char> alive_ = std::make_shared<char>();
};

}  // namespace meshbroker::supervisor
