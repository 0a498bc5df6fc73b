// Desired routes vs. the kernel's (ours only) -> the smallest batch of changes. Pure.
#pragma once

#include <string>
#include <vector>

#include "routing/kernel_route.hpp"

namespace meshbroker::routing {

struct RoutePlan {
  std::vector<KernelRoute> replace;  // create or change in place (NLM_F_REPLACE)
  std::vector<KernelRoute> remove;   // ours, no longer wanted
  std::vector<PolicyRule> add_rules;
  std::vector<PolicyRule> remove_rules;
  bool empty() const {
    return replace.empty() && remove.empty() && add_rules.empty() && remove_rules.empty();
  }
};

// A desired route whose key (destination, table, metric) a foreign route holds: replacing
// there would overwrite the foreign route (NLM_F_REPLACE matches on the key, not on the
// protocol). Ours goes in with the next metric no foreign route holds instead; the kernel
// prefers the lower metric, so the foreign route keeps the traffic while it exists.
struct RouteConflict {
  ForeignRoute held;     // the foreign route ours would have replaced
  std::uint32_t metric;  // the metric ours uses instead
  auto operator<=>(const RouteConflict&) const = default;
};
// "10.64.0.0/11 (table 254, metric 0) is routed by another program (proto static): left
// alone; meshbroker's route uses metric 1, ..."
std::string describe(const RouteConflict& conflict);

// Moves every desired route, and every frozen key, off the keys foreign routes hold (the same
// way each time, so a moved route is found again at its new key). Returns one conflict per
// foreign route met, sorted. Pure.
std::vector<RouteConflict> stepAside(std::vector<KernelRoute>& desired,
                                     std::vector<RouteKey>& frozen,
                                     const std::vector<ForeignRoute>& foreign);

// Routes whose key is in `frozen` are left exactly as the kernel has them. Duplicate desired
// keys: the first wins.
RoutePlan planChanges(const std::vector<KernelRoute>& desired,
                      const std::vector<PolicyRule>& desired_rules,
                      const std::vector<KernelRoute>& current,
                      const std::vector<PolicyRule>& current_rules,
                      const std::vector<RouteKey>& frozen);

// One line per change, as `routes --dry-run` prints it: "+ ...", "~ ... (was ...)", "- ...".
std::vector<std::string> describe(const RoutePlan& plan, const std::vector<KernelRoute>& current);

// Applies the plan: rules first (so a source's table exists before traffic is steered to it...
// and its routes before the rule: routes, then rules added, then removals). Returns the errors
// (one per failed change); the rest of the plan is still applied.
std::vector<std::string> applyPlan(RouteTable& table, const RoutePlan& plan);

// The kernel's rules of ours; when they cannot be read (qemu-user has no RTM_GETRULE, a
// failed dump), `desired` instead, so that a plan leaves the rules as they are and still moves
// the routes, with *error saying so. Empty *error: they were read.
std::vector<PolicyRule> rulesOrLeaveAlone(RouteTable& table, const std::vector<PolicyRule>& desired,
                                          std::string* error);

}  // namespace meshbroker::routing
