// meshbroker's nftables table: per-source connection caps on OpenVPN instances and the forward
// filter of a server. A pure function from the config to the text `nft -f` reads.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "config/model.hpp"

namespace meshbroker::templates {

// The table's family and name: nothing else is ever touched.
inline constexpr const char* kFirewallTable = "inet meshbroker";

// The whole ruleset for `nft -f`: it declares, flushes by deleting and re-creates the table in
// one transaction (so applying it twice is the same as once, and a failure changes nothing).
// Empty when the node needs no table (no OpenVPN instance): then the table is removed.
// quota_blocked: per public instance with a quota, the source addresses over it this month
// (supervisor/quota_keeper): every packet from them to the instance's port is dropped. An
// entry that is not an IPv4 or IPv6 address is left out (it never reaches the text).
using QuotaBlocked = std::map<std::string, std::vector<std::string>>;
std::string renderFirewall(const config::NodeConfig& node, const QuotaBlocked& quota_blocked = {});

// The `nft -f` text that removes the table (and succeeds when there is none).
std::string removeFirewall();

}  // namespace meshbroker::templates
