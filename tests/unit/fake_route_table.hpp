// An in-memory RouteTable for unit tests: keyed like the kernel (dst, table, metric), with a
// log of the changes made and a prefix whose replace fails (to test error handling).
#pragma once

#include <string>
#include <vector>

#include "routing/kernel_route.hpp"

namespace meshbroker::testing {

class FakeRouteTable : public routing::RouteTable {
 public:
  std::vector<routing::KernelRoute> routes() override { return routes_; }
  std::vector<routing::PolicyRule> rules() override {
    if (rules_fail) throw routing::RouteTableError("cannot list the kernel's IPv4 rules: no");
    return rules_;
  }
  std::vector<routing::ForeignRoute> foreignRoutes() override { return foreign_; }
  void replace(const routing::KernelRoute& route) override {
    if (route.to.str() == failing_prefix) throw routing::RouteTableError("no such device");
    std::erase_if(routes_, [&](const auto& r) { return keyOf(r) == keyOf(route); });
    routes_.push_back(route);
    log.push_back("replace " + describe(route));
  }
  void remove(const routing::KernelRoute& route) override {
    std::erase_if(routes_, [&](const auto& r) { return keyOf(r) == keyOf(route); });
    log.push_back("remove " + describe(route));
  }
  void add(const routing::PolicyRule& rule) override {
    rules_.push_back(rule);
    log.push_back("add " + describe(rule));
  }
  void remove(const routing::PolicyRule& rule) override {
    std::erase(rules_, rule);
    log.push_back("remove " + describe(rule));
  }

  // The next hops of the main-table route to prefix ("100.64.12.9", "a,b", "unreachable"),
  // or "" when there is none.
  std::string via(const std::string& prefix) const {
    for (const auto& r : routes_) {
      if (r.table != routing::kMainTable || r.to.str() != prefix) continue;
      if (r.type != routing::RouteType::kUnicast) return std::string(toString(r.type));
      std::string text;
      for (const auto& hop : r.next_hops) text += (text.empty() ? "" : ",") + hop.gateway.str();
      return text;
    }
    return "";
  }

  std::vector<routing::KernelRoute> routes_;
  std::vector<routing::PolicyRule> rules_;
  std::vector<routing::ForeignRoute> foreign_;  // other programs' routes: never changed here
  std::vector<std::string> log;
  std::string failing_prefix;
  bool rules_fail = false;  // rules() throws (qemu-user's netlink has no rule dump)
};

}  // namespace meshbroker::testing
