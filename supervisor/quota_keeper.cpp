#include "supervisor/quota_keeper.hpp"

#include <time.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <system_error>

#include "io/log.hpp"
#include "model/runtime_layout.hpp"
#include "supervisor/clock.hpp"
#include "supervisor/usage_ledger.hpp"

namespace meshbroker::supervisor {

using io::Level;
using io::log;
namespace fs = std::filesystem;

namespace {

std::string amount(std::uint64_t bytes) {
  char out[32];
  if (bytes >= 1000ULL * 1000 * 1000) {
    std::snprintf(out, sizeof out, "%.2f GB", static_cast<double>(bytes) / 1e9);
  } else {
    std::snprintf(out, sizeof out, "%.2f MB", static_cast<double>(bytes) / 1e6);
  }
  return out;
}

bool sameUser(const QuotaBlock& a, const QuotaBlock& b) {
  return a.instance == b.instance && a.user == b.user;
}

const QuotaBlock* find(const std::vector<QuotaBlock>& blocks, const QuotaBlock& block) {
  auto it = std::find_if(blocks.begin(), blocks.end(),
                         [&](const QuotaBlock& b) { return sameUser(b, block); });
  return it == blocks.end() ? nullptr : &*it;
}

std::map<std::string, std::vector<std::string>> addressesOf(const std::vector<QuotaBlock>& blocks) {
  std::map<std::string, std::vector<std::string>> out;
  for (const auto& b : blocks) {
    if (b.by_address) out[b.instance].push_back(b.user);
  }
  return out;
}

}  // namespace

QuotaKeeper::QuotaKeeper(const config::NodeConfig& config, BlockAddresses block, PartHooks hooks)
    : config_(config), block_(std::move(block)), hooks_(std::move(hooks)) {}

fs::path QuotaKeeper::ccdDir(const config::NodeConfig& config, const std::string& instance) {
  return model::StateLayout{config.paths.state_dir}.openvpnCcd(instance);
}

void QuotaKeeper::apply(const std::vector<model::UserUsage>& users, std::int64_t now_s) {
  auto next = overQuota(config_, users, now_s);
  bool changed = false;
  for (auto& block : next) {
    if (const auto* known = find(blocks_, block)) {
      block.since_s = known->since_s;
      continue;
    }
    changed = true;
    block.since_s = now_s;
    const std::string what = block.user + " is over the monthly quota (" + amount(block.used) +
                             " of " + amount(block.quota) + "): sessions ended, refused until " +
                             utcMinute(block.until_s);
    log(Level::kNotice, "openvpn-" + block.instance + ": " + what);
    if (hooks_.record) hooks_.record("quota", "openvpn-" + block.instance + ": " + what);
    if (!block.by_address) writeCcd(block, true);
  }
  for (const auto& block : blocks_) {
    if (find(next, block)) continue;
    changed = true;
    const std::string what = block.user + " may connect again (a new month, or the quota changed)";
    log(Level::kNotice, "openvpn-" + block.instance + ": " + what);
    if (hooks_.record) hooks_.record("quota", "openvpn-" + block.instance + ": " + what);
    if (!block.by_address) writeCcd(block, false);
  }
  auto addresses = addressesOf(next);
  const bool addresses_changed = addresses != addressesOf(blocks_);
  blocks_ = std::move(next);
  // The folders are read once, then only when a block came or went: not at every poll.
  if (changed || !swept_) clearStaleCcd();
  swept_ = true;
  if (addresses_changed && block_) block_(addresses);
  if (changed && hooks_.changed) hooks_.changed();
}

std::vector<model::ConnectedClient> QuotaKeeper::afterPoll(
    const std::string& instance, bool shared_certificate,
    const std::vector<model::ConnectedClient>& clients, const std::vector<model::UserUsage>& users,
    std::int64_t now_s) {
  apply(users, now_s);
  std::vector<model::ConnectedClient> end;
  for (const auto& client : clients) {
    const auto user = UsageLedger::userOf(shared_certificate, client);
    const auto* block = find(blocks_, {.instance = instance, .user = user});
    if (!block) continue;
    // A private session that began after the block was refused by OpenVPN itself (the client
    // got AUTH_FAILED and stopped); ending it too would only tell the client to retry.
    const bool refused_by_openvpn =
        !shared_certificate && ccdSafeName(user) && client.connected_since > block->since_s;
    if (!refused_by_openvpn) end.push_back(client);
  }
  return end;
}

// A file named after the user holding "disable": OpenVPN refuses that common name at its next
// connection. Written whole under a temporary name, then renamed.
void QuotaKeeper::writeCcd(const QuotaBlock& block, bool disable) {
  if (!ccdSafeName(block.user)) {
    if (disable) {
      log(Level::kWarning, "openvpn-" + block.instance + ": common name \"" + block.user +
                               "\" cannot be a client-config-dir file: its sessions are ended at "
                               "every poll instead");
    }
    return;
  }
  const auto dir = ccdDir(config_, block.instance);
  std::error_code ec;
  if (!disable) {
    fs::remove(dir / block.user, ec);
    if (ec)
      log(Level::kWarning,
          "quota: cannot remove " + (dir / block.user).string() + ": " + ec.message());
    return;
  }
  fs::create_directories(dir, ec);
  fs::permissions(dir, fs::perms(0755), ec);
  const auto temp = dir / ("." + block.user + ".new");
  {
    std::ofstream out(temp, std::ios::trunc);
    out << "# meshbroker: over the monthly quota until " << utcMinute(block.until_s)
        << "\ndisable\n";
    if (!out.flush()) {
      log(Level::kError,
          "quota: cannot write " + temp.string() + ": the user is ended at every poll instead");
      return;
    }
  }
  fs::permissions(temp, fs::perms(0644), ec);
  fs::rename(temp, dir / block.user, ec);
  if (ec)
    log(Level::kError, "quota: cannot write " + (dir / block.user).string() + ": " + ec.message());
}

// A file of a user no longer blocked (the month ended while meshbroker was down, the quota was
// raised, the instance lost its quota) goes; so do leftover temporaries.
void QuotaKeeper::clearStaleCcd() {
  for (const auto& instance : config_.openvpn) {
    if (instance.kind == config::InstanceKind::kPublic) continue;
    const auto dir = ccdDir(config_, instance.name.str());
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) continue;
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
      const auto name = entry.path().filename().string();
      if (!name.starts_with('.') && find(blocks_, {.instance = instance.name.str(), .user = name}))
        continue;
      std::error_code ignored;
      fs::remove(entry.path(), ignored);
    }
  }
}

}  // namespace meshbroker::supervisor
