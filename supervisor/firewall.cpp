// meshbroker's nftables table through `nft -f -`: see firewall.hpp.
#include "supervisor/firewall.hpp"

#include "backends/command.hpp"
#include "io/log.hpp"
#include "templates/firewall.hpp"

namespace meshbroker::supervisor {

using io::Level;
using io::log;

namespace {

// The table goes in (or out) as one `nft -f -` transaction: on a failure nothing changed.
backends::CommandResult runNft(const std::filesystem::path& nft, const std::string& script) {
  return backends::runCommand(nft, {"-f", "-"}, script);
}

}  // namespace

void Firewall::apply(const config::NodeConfig& config) {
  auto text = templates::renderFirewall(config, quota_blocked_);
  if (text == applied_) return;
  const bool removing = text.empty();
  auto result = runNft(config.supervisor.nft, removing ? templates::removeFirewall() : text);
  if (!result.ok) {
    log(Level::kError,
        "firewall: nft refused meshbroker's table, the previous one stays: " + result.output);
    record_("firewall", "nft failed: " + result.output.substr(0, 200));
    return;
  }
  applied_ = text;
  std::string what = removing
                         ? "table inet meshbroker removed (no OpenVPN instance)"
                         : "table inet meshbroker installed (per-source caps" +
                               std::string(config.routing.forward_filter ? ", forward filter)"
                                                                         : "; forward filter off)");
  log(Level::kNotice, "firewall: " + what);
  record_("firewall", what);
}

void Firewall::remove(const std::filesystem::path& nft) {
  if (applied_.empty()) return;
  auto removed = runNft(nft, templates::removeFirewall());
  if (removed.ok) {
    applied_.clear();
    log(Level::kInfo, "firewall: table inet meshbroker removed");
  } else {
    log(Level::kError, "firewall: cannot remove table inet meshbroker: " + removed.output);
  }
}

}  // namespace meshbroker::supervisor
