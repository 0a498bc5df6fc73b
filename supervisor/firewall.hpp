// meshbroker's nftables table (templates/firewall.*) on this node: installed or replaced when
// its text changed, removed when the node needs none; a failure is logged and kept in events,
// and the previous table (or none) stays, so connected people stay connected.
#pragma once

#include <filesystem>
#include <functional>
#include <string>

#include "config/model.hpp"
#include "templates/firewall.hpp"

namespace meshbroker::supervisor {

class Firewall {
 public:
  using Record = std::function<void(std::string source, std::string what)>;
  explicit Firewall(Record record) : record_(std::move(record)) {}

  void apply(const config::NodeConfig& config);
  // The public instances' addresses over their monthly quota (supervisor/quota_keeper); the
  // next apply installs them.
  void setQuotaBlocked(templates::QuotaBlocked blocked) { quota_blocked_ = std::move(blocked); }
  // At a clean stop: the backends it guarded are stopped, so is the table (a crash or a
  // handover leaves it for the next start).
  void remove(const std::filesystem::path& nft);

 private:
  Record record_;
  std::string applied_;  // the table's text as nft last took it
  templates::QuotaBlocked quota_blocked_;
};

}  // namespace meshbroker::supervisor
