#include "routing/reconcile.hpp"

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <map>
#include <set>

namespace meshbroker::routing {

std::string describe(const RouteConflict& conflict) {
  const auto& key = conflict.held.key;
  return key.to.str() + " (table " + std::to_string(key.table) + ", metric " +
         std::to_string(key.metric) + ") is routed by another program (proto " +
         protocolName(conflict.held.protocol) + "): left alone; meshbroker's route uses metric " +
         std::to_string(conflict.metric) + ", which the kernel prefers less while the other exists";
}

std::vector<RouteConflict> stepAside(std::vector<KernelRoute>& desired,
                                     std::vector<RouteKey>& frozen,
                                     const std::vector<ForeignRoute>& foreign) {
  std::map<RouteKey, std::uint8_t> held;
  for (const auto& route : foreign) held.emplace(route.key, route.protocol);
  std::set<RouteConflict> conflicts;
  // The first metric at or above the key's that no foreign route holds.
  auto move = [&](RouteKey key) {
    const auto first = held.find(key);
    if (first == held.end()) return key;
    const RouteConflict seen{{key, first->second}, 0};
    while (held.count(key) && key.metric < UINT32_MAX) ++key.metric;
    conflicts.insert({seen.held, key.metric});
    return key;
  };
  for (auto& route : desired) route.metric = move(keyOf(route)).metric;
  for (auto& key : frozen) key = move(key);
  return {conflicts.begin(), conflicts.end()};
}

RoutePlan planChanges(const std::vector<KernelRoute>& desired,
                      const std::vector<PolicyRule>& desired_rules,
                      const std::vector<KernelRoute>& current,
                      const std::vector<PolicyRule>& current_rules,
                      const std::vector<RouteKey>& frozen) {
  RoutePlan plan;
  const std::set<RouteKey> frozen_keys(frozen.begin(), frozen.end());
  std::map<RouteKey, const KernelRoute*> have;
  for (const auto& route : current) have.emplace(keyOf(route), &route);

  std::set<RouteKey> wanted;
  for (const auto& route : desired) {
    const RouteKey key = keyOf(route);
    if (frozen_keys.count(key) || !wanted.insert(key).second) continue;
    auto it = have.find(key);
    if (it == have.end() || !(*it->second == route)) plan.replace.push_back(route);
  }
  for (const auto& route : current) {
    const RouteKey key = keyOf(route);
    if (!wanted.count(key) && !frozen_keys.count(key)) plan.remove.push_back(route);
  }

  const std::set<PolicyRule> want_rules(desired_rules.begin(), desired_rules.end());
  const std::set<PolicyRule> have_rules(current_rules.begin(), current_rules.end());
  for (const auto& rule : want_rules) {
    if (!have_rules.count(rule)) plan.add_rules.push_back(rule);
  }
  for (const auto& rule : have_rules) {
    if (!want_rules.count(rule)) plan.remove_rules.push_back(rule);
  }
  return plan;
}

std::vector<std::string> describe(const RoutePlan& plan, const std::vector<KernelRoute>& current) {
  std::vector<std::string> lines;
  std::map<RouteKey, const KernelRoute*> have;
  for (const auto& route : current) have.emplace(keyOf(route), &route);
  for (const auto& route : plan.replace) {
    auto it = have.find(keyOf(route));
    if (it == have.end()) {
      lines.push_back("+ route " + describe(route));
    } else {
      lines.push_back("~ route " + describe(route) + " (was " + describe(*it->second) + ")");
    }
  }
  for (const auto& route : plan.remove) lines.push_back("- route " + describe(route));
  for (const auto& rule : plan.add_rules) lines.push_back("+ rule " + describe(rule));
  for (const auto& rule : plan.remove_rules) lines.push_back("- rule " + describe(rule));
  return lines;
}

std::vector<std::string> applyPlan(RouteTable& table, const RoutePlan& plan) {
  std::vector<std::string> errors;
  auto attempt = [&errors](auto&& change) {
    try {
      change();
    } catch (const std::exception& e) {
      errors.push_back(e.what());
    }
  };
  // Routes before the rules that steer traffic into their tables; removals last.
  auto keep = [&errors](std::vector<std::string> more) {
    errors.insert(errors.end(), std::make_move_iterator(more.begin()),
                  std::make_move_iterator(more.end()));
  };
  keep(table.replaceAll(plan.replace));
  for (const auto& rule : plan.add_rules) attempt([&] { table.add(rule); });
  for (const auto& rule : plan.remove_rules) attempt([&] { table.remove(rule); });
  keep(table.removeAll(plan.remove));
  return errors;
}

std::vector<PolicyRule> rulesOrLeaveAlone(RouteTable& table, const std::vector<PolicyRule>& desired,
                                          std::string* error) {
  error->clear();
  try {
    return table.rules();
  } catch (const std::exception& e) {
    *error = std::string(e.what()) + " (rules left as they are; routes updated)";
    return desired;
  }
}

}  // namespace meshbroker::routing
