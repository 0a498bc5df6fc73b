// meshbroker's nftables table: per-source connection caps on OpenVPN instances and the forward
// filter of a server. A pure function from the config to the text `nft -f` reads.
#pragma once

#include <string>

#include "config/model.hpp"

namespace meshbroker::templates {

// The table's family and name: nothing else is ever touched.
inline constexpr const char* kFirewallTable = "inet meshbroker";

// The whole ruleset for `nft -f`: it declares, flushes by deleting and re-creates the table in
// one transaction (so applying it twice is the same as once, and a failure changes nothing).
// Empty when the node needs no table (no OpenVPN instance): then the table is removed.
std::string renderFirewall(const config::NodeConfig& node);

// The `nft -f` text that removes the table (and succeeds when there is none).
std::string removeFirewall();

}  // namespace meshbroker::templates
