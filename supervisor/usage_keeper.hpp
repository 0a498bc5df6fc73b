// The usage ledger's adapter (issue 21): loads <state_dir>/openvpn-usage.json at start, feeds
// the ledger every instance's status polls, and writes it back atomically at most every 5 s
// (only when a figure changed) and at shutdown. A file it cannot read is kept aside
// (openvpn-usage.json.bad-TIME) with an error in the log, never overwritten.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "io/asio.hpp"
#include "model/openvpn_client.hpp"
#include "model/openvpn_usage.hpp"
#include "supervisor/clock.hpp"
#include "supervisor/periodic.hpp"
#include "supervisor/usage_ledger.hpp"

namespace meshbroker::supervisor {

class UsageKeeper {
 public:
  static constexpr Duration kSaveEvery{5000};

  UsageKeeper(asio::io_context& io, std::filesystem::path file);

  // The ledger in FILE (what `client list` shows); nullopt and *error when it is unreadable.
  static std::optional<UsageLedger> read(const std::filesystem::path& file, std::string* error);

  // Reads the file (none yet: an empty ledger) and starts the periodic save.
  void start();
  void observe(const std::string& instance, bool shared_certificate,
               const std::vector<model::ConnectedClient>& clients);
  // Writes now if anything changed; stops the periodic save (shutdown, handover).
  void stop();
  std::vector<model::UserUsage> users() const { return ledger_.users(); }

 private:
  void load();
  void save();

  std::filesystem::path file_;
  UsageLedger ledger_;
  Periodic saver_;
  bool dirty_ = false;
  bool started_ = false;
};

}  // namespace meshbroker::supervisor
