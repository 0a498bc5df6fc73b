// Acts on monthly quotas (issue 21): after each status poll of an instance, the users over
// their quota (supervisor/quota, pure) are refused until the month ends and their sessions
// are ended. A private instance's user is refused by a client-config-dir file holding
// `disable` (OpenVPN reads it at every connection, no restart); a public instance's (one
// shared certificate, users told apart by source address) by meshbroker's nftables table,
// which drops that address's packets to the instance's port. A session of a blocked user that
// began before the block is ended; on a public instance (or for a common name that cannot be a
// file) any session of a blocked user is ended at every poll.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "config/model.hpp"
#include "model/openvpn_client.hpp"
#include "model/openvpn_usage.hpp"
#include "supervisor/part_hooks.hpp"
#include "supervisor/quota.hpp"

namespace meshbroker::supervisor {

class QuotaKeeper {
 public:
  // Installs the public instances' blocked addresses (instance -> addresses) in the firewall.
  using BlockAddresses =
      std::function<void(const std::map<std::string, std::vector<std::string>>&)>;

  QuotaKeeper(const config::NodeConfig& config, BlockAddresses block, PartHooks hooks);

  // The client-config-dir of a private instance (rendered only when it has a quota).
  static std::filesystem::path ccdDir(const config::NodeConfig& config,
                                      const std::string& instance);

  // Brings files and firewall in line with the ledger's figures at now_s: at start (before
  // openvpn runs, so a user blocked before a restart stays refused) and after a reload.
  void apply(const std::vector<model::UserUsage>& users, std::int64_t now_s);

  // After a status poll of `instance`: applies the figures, and returns its sessions to end.
  std::vector<model::ConnectedClient> afterPoll(const std::string& instance,
                                                bool shared_certificate,
                                                const std::vector<model::ConnectedClient>& clients,
                                                const std::vector<model::UserUsage>& users,
                                                std::int64_t now_s);

  const std::vector<QuotaBlock>& blocks() const { return blocks_; }

 private:
  void writeCcd(const QuotaBlock& block, bool disable);
  // Removes the files of users no longer blocked (and leftover temporaries).
  void clearStaleCcd();

  const config::NodeConfig& config_;
  BlockAddresses block_;
  PartHooks hooks_;
  std::vector<QuotaBlock> blocks_;
  bool swept_ = false;  // the folders were cleared of stale files (done once, then on changes)
};

}  // namespace meshbroker::supervisor
