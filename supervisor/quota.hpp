// Monthly quotas of OpenVPN users (issue 21): pure. From the usage ledger's figures and each
// instance's `quota`, who is over it this UTC month and until when they are refused.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "config/model.hpp"
#include "model/openvpn_usage.hpp"

namespace meshbroker::supervisor {

struct QuotaBlock {
  std::string instance;
  std::string user;         // a common name, or a source address on a shared-certificate one
  bool by_address = false;  // the public instance's users: refused by source address
  std::uint64_t used = 0;   // bytes this month, both directions
  std::uint64_t quota = 0;
  std::int64_t until_s = 0;  // the first second of the next UTC month
  std::int64_t since_s = 0;  // when the keeper first saw it (supervisor/quota_keeper)
};

// The first second (time_t) of the UTC month after the one now_s is in.
std::int64_t nextMonthStart(std::int64_t now_s);

// Every user of an instance with a quota whose figures for the current month (now_s's) reach
// it, sorted by instance and user. "other" (the users past the ledger's cap, many people
// together) is never blocked; an instance gone from the config blocks nobody.
std::vector<QuotaBlock> overQuota(const config::NodeConfig& node,
                                  const std::vector<model::UserUsage>& users, std::int64_t now_s);

// A common name OpenVPN may look up as a file of client-config-dir: 1..64 of letters, digits,
// '.', '-', '_', '@', not "." or "..", not starting with '.'. Any other is refused a file (and
// ended at every poll instead).
bool ccdSafeName(std::string_view common_name);

}  // namespace meshbroker::supervisor
