#include "supervisor/quota.hpp"

#include <time.h>

#include <algorithm>
#include <tuple>

#include "supervisor/usage_ledger.hpp"

namespace meshbroker::supervisor {

std::int64_t nextMonthStart(std::int64_t now_s) {
  time_t t = static_cast<time_t>(now_s);
  tm utc{};
  gmtime_r(&t, &utc);
  tm next{};
  next.tm_year = utc.tm_mon == 11 ? utc.tm_year + 1 : utc.tm_year;
  next.tm_mon = (utc.tm_mon + 1) % 12;
  next.tm_mday = 1;
  return static_cast<std::int64_t>(timegm(&next));
}

std::vector<QuotaBlock> overQuota(const config::NodeConfig& node,
                                  const std::vector<model::UserUsage>& users, std::int64_t now_s) {
  const auto month = UsageLedger::monthOf(now_s);
  const auto until = nextMonthStart(now_s);
  std::vector<QuotaBlock> blocks;
  for (const auto& usage : users) {
    if (usage.user == UsageLedger::kOther || usage.month != month) continue;
    auto instance = std::find_if(node.openvpn.begin(), node.openvpn.end(),
                                 [&](const auto& i) { return i.name.str() == usage.instance; });
    if (instance == node.openvpn.end() || !instance->quota) continue;
    const std::uint64_t used = usage.this_month.bytes_received + usage.this_month.bytes_sent;
    if (used < instance->quota->bytes()) continue;
    blocks.push_back({.instance = usage.instance,
                      .user = usage.user,
                      .by_address = instance->kind == config::InstanceKind::kPublic,
                      .used = used,
                      .quota = instance->quota->bytes(),
                      .until_s = until});
  }
  std::sort(blocks.begin(), blocks.end(), [](const QuotaBlock& a, const QuotaBlock& b) {
    return std::tie(a.instance, a.user) < std::tie(b.instance, b.user);
  });
  return blocks;
}

bool ccdSafeName(std::string_view name) {
  if (name.empty() || name.size() > 64 || name.front() == '.') return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '-' || c == '_' || c == '@';
  });
}

}  // namespace meshbroker::supervisor
