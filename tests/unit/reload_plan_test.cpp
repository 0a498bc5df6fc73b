// Reload planning: what each kind of file change does to each backend.
#include "supervisor/reload_plan.hpp"

#include <gtest/gtest.h>

#include "routing/static_routes.hpp"
#include "templates/renderer.hpp"
#include "unit/test_support.hpp"

namespace meshbroker::supervisor {
namespace {

using templates::RenderedFile;

const std::vector<std::string> kBackends = {"tinc", "openvpn-public"};

std::vector<RenderedFile> base() {
  return {{"tinc/tinc.conf", "Name = chip\nMode = switch\nConnectTo = comegato\n", 0644},
          {"tinc/hosts/comegato", "Address = 192.0.2.12 655\n", 0644},
          {"tinc/tinc-up", "#!/bin/sh\nip addr replace 100.64.12.11/27\n", 0755},
          {"tinc/host-up", "#!/bin/sh\n", 0755},
          {"openvpn/public.conf", "port 1194\n", 0644}};
}

std::map<std::string, ReloadAction> planFor(const std::vector<RenderedFile>& after) {
  return planReload(base(), after, kBackends, kBackends);
}

TEST(ReloadPlan, UnchangedTouchesNothing) {
  auto plan = planFor(base());
  EXPECT_EQ(plan.at("tinc"), ReloadAction::kNone);
  EXPECT_EQ(plan.at("openvpn-public"), ReloadAction::kNone);
}

TEST(ReloadPlan, HostFileChangeIsASignal) {
  auto after = base();
  after[1].content = "Address = 192.0.2.99 655\n";
  EXPECT_EQ(planFor(after).at("tinc"), ReloadAction::kSignal);
  after.push_back({"tinc/hosts/cometa", "key\n", 0644});
  EXPECT_EQ(planFor(after).at("tinc"), ReloadAction::kSignal);
}

TEST(ReloadPlan, ConnectToChangeIsASignal) {
  auto after = base();
  after[0].content = "Name = chip\nMode = switch\nConnectTo = comegato\nConnectTo = x\n";
  EXPECT_EQ(planFor(after).at("tinc"), ReloadAction::kSignal);
}

TEST(ReloadPlan, OtherTincConfChangeIsARestart) {
  auto after = base();
  after[0].content = "Name = chip\nMode = router\nConnectTo = comegato\n";
  EXPECT_EQ(planFor(after).at("tinc"), ReloadAction::kRestart);
}

TEST(ReloadPlan, TincUpChangeIsARestartOtherHooksNothing) {
  auto after = base();
  after[3].content = "#!/bin/sh\n# changed\n";
  EXPECT_EQ(planFor(after).at("tinc"), ReloadAction::kNone);
  after[2].content = "#!/bin/sh\nip addr replace 100.64.12.13/27\n";
  EXPECT_EQ(planFor(after).at("tinc"), ReloadAction::kRestart);
}

// A node joining or leaving the network changes every node's host list: the host files, and in
// tinc-up the permanent neighbours and (on a gateway) the routes back to a server's clients.
// None of it may restart tincd (a break of every mesh connection on every node): the host files
// take a SIGHUP, the daemon applies the neighbours and routes itself.
TEST(ReloadPlan, AHostJoiningOrLeavingRestartsNoTincd) {
  for (const std::string node : {"chip", "cometa"}) {
    auto loaded = testing::parseAs(node, testing::exampleText(node));
    ASSERT_TRUE(loaded.config) << testing::describe(loaded.diagnostics);
    auto fewer = *loaded.config;
    // The other server leaves (cometa loses a route back too), and a gateway.
    std::erase_if(fewer.hosts, [&](const config::Host& host) {
      return host.name.str() == (node == "chip" ? "comegato" : "chip") ||
             host.name.str() == "illimani";
    });
    fewer.routes.clear();
    fewer.openvpn.clear();
    auto full = *loaded.config;
    full.routes.clear();
    full.openvpn.clear();
    auto before = templates::renderNode(full, {});
    auto after = templates::renderNode(fewer, {});
    auto up = [](const std::vector<RenderedFile>& files) {
      for (const auto& file : files)
        if (file.path == "tinc/tinc-up") return file.content;
      return std::string();
    };
    ASSERT_NE(up(before), up(after)) << node;  // the case is real: tinc-up did change
    std::vector<std::string> ids = {"tinc"};
    EXPECT_EQ(planReload(before, after, ids, ids).at("tinc"), ReloadAction::kSignal) << node;
    EXPECT_EQ(planReload(after, before, ids, ids).at("tinc"), ReloadAction::kSignal) << node;
  }
}

// An upgrade that brings meshbroker-notify changes the program every hook names, tinc-up's last
// line included: that line ran when tincd started, so the running tincd is left alone.
TEST(ReloadPlan, TheProgramTheHooksRunRestartsNoTincd) {
  auto loaded = testing::parseAs("cometa", testing::exampleText("cometa"));
  ASSERT_TRUE(loaded.config) << testing::describe(loaded.diagnostics);
  auto before = templates::renderNode(*loaded.config, {"/usr/bin/meshbroker"});
  auto after = templates::renderNode(*loaded.config, {"/usr/bin/meshbroker-notify"});
  std::size_t changed = 0;
  for (std::size_t i = 0; i < before.size(); ++i) changed += before[i].content != after[i].content;
  ASSERT_GE(changed, 3u) << "tinc-up, host-up, host-down";
  std::vector<std::string> ids = {"tinc"};
  EXPECT_EQ(planReload(before, after, ids, ids).at("tinc"), ReloadAction::kNone);
}

TEST(ReloadPlan, TincUpsOwnAddressStillRestarts) {
  auto after = base();
  after[2].content =
      "#!/bin/sh\nip addr replace 100.64.12.11/27\nip neigh replace 100.64.12.12 "
      "lladdr 02:00:64:40:0c:0c dev \"$INTERFACE\" nud permanent || true\n";
  EXPECT_EQ(planFor(after).at("tinc"), ReloadAction::kNone);
  after[2].content = "#!/bin/sh\nip addr replace 100.64.12.11/28\n";
  EXPECT_EQ(planFor(after).at("tinc"), ReloadAction::kRestart);
}

TEST(Neighbours, EveryHostPermanentAtItsMeshMac) {
  auto loaded = testing::parseAs("chip", testing::exampleText("chip"));
  ASSERT_TRUE(loaded.config);
  const auto& hosts = loaded.config->hosts;
  auto neighbours = routing::meshNeighbours(*loaded.config);
  // IPv4 first, then IPv6 (the seed is dual stack), both at the host's one mesh MAC.
  ASSERT_EQ(neighbours.size(), 2 * hosts.size());
  for (std::size_t i = 0; i < hosts.size(); ++i) {
    EXPECT_EQ(neighbours[i].address, config::IpAddress(hosts[i].mesh_address));
    EXPECT_EQ(neighbours[i].mac, routing::meshMac(hosts[i].mesh_address));
    EXPECT_EQ(neighbours[hosts.size() + i].address, config::IpAddress(*hosts[i].mesh_address6));
    EXPECT_EQ(neighbours[hosts.size() + i].mac, routing::meshMac(hosts[i].mesh_address));
  }
  auto router = *loaded.config;
  router.tinc.mode = config::TincMode::kRouter;
  EXPECT_TRUE(routing::meshNeighbours(router).empty());  // no ARP in router mode
}

TEST(Neighbours, PlanAddsMissingFixesMovedRemovesOnlyOurs) {
  auto a = *config::Ipv4Address::parse("100.64.12.11", nullptr);
  auto b = *config::Ipv4Address::parse("100.64.12.12", nullptr);
  auto c = *config::Ipv4Address::parse("100.64.12.13", nullptr);
  auto d = *config::Ipv4Address::parse("100.64.12.14", nullptr);
  std::vector<routing::Neighbour> desired = {{a, routing::meshMac(a)}, {b, routing::meshMac(b)}};
  std::vector<routing::Neighbour> current = {
      {a, routing::meshMac(a)},   // right: untouched
      {b, "02:00:66:66:66:66"},   // moved (a spoof made permanent by someone): replaced
      {c, routing::meshMac(c)},   // a host that left: removed
      {d, "52:54:00:12:34:56"}};  // someone else's permanent entry: left alone
  auto plan = routing::planNeighbours(desired, current);
  ASSERT_EQ(plan.replace.size(), 1u);
  EXPECT_EQ(plan.replace[0].address, b);
  EXPECT_EQ(plan.replace[0].mac, routing::meshMac(b));
  ASSERT_EQ(plan.remove.size(), 1u);
  EXPECT_EQ(plan.remove[0].address, c);
  EXPECT_TRUE(routing::planNeighbours(desired, desired).empty());
}

// IPv6 entries carry their host's mesh MAC (derived from its IPv4 address): they are ours when
// that MAC is one of the IPv4 entries we want or hold, and someone else's otherwise.
TEST(Neighbours, PlanIpv6EntriesAreOursByTheirHostsMac) {
  auto v4 = [](const char* text) { return *config::Ipv4Address::parse(text, nullptr); };
  auto v6 = [](const char* text) { return *config::Ipv6Address::parse(text, nullptr); };
  auto a = v4("100.64.12.11");
  auto c = v4("100.64.12.13");
  std::vector<routing::Neighbour> desired = {{a, routing::meshMac(a)},
                                             {v6("fd00:64:12::11"), routing::meshMac(a)}};
  std::vector<routing::Neighbour> current = {
      {a, routing::meshMac(a)},
      {v6("fd00:64:12::11"), "02:00:66:66:66:66"},  // moved by a spoof: put back
      {c, routing::meshMac(c)},                     // a host that left: both entries go
      {v6("fd00:64:12::13"), routing::meshMac(c)},
      {v6("fd00:64:12::99"), "02:00:0a:0b:0c:0d"},  // a 02:00 MAC of no mesh host: not ours
      {v6("fd00:64:12::98"), "52:54:00:12:34:56"}};
  auto plan = routing::planNeighbours(desired, current);
  ASSERT_EQ(plan.replace.size(), 1u);
  EXPECT_EQ(plan.replace[0].address, config::IpAddress(v6("fd00:64:12::11")));
  EXPECT_EQ(plan.replace[0].mac, routing::meshMac(a));
  ASSERT_EQ(plan.remove.size(), 2u);
  EXPECT_EQ(plan.remove[0].address, config::IpAddress(c));
  EXPECT_EQ(plan.remove[1].address, config::IpAddress(v6("fd00:64:12::13")));
}

// The IPv6 pinning lines are kept by the daemon too: changing only them restarts no tincd.
TEST(ReloadPlan, Ipv6NeighbourLinesAreNotARestart) {
  auto after = base();
  after[2].content +=
      "ip -6 neigh replace fd00:64:12::12 lladdr 02:00:64:40:0c:0c dev "
      "\"$INTERFACE\" nud permanent || true\n";
  EXPECT_EQ(planFor(after).at("tinc"), ReloadAction::kNone);
}

TEST(ReloadPlan, OpenVpnChangeRestartsOnlyThatInstance) {
  auto after = base();
  after[4].content = "port 1195\n";
  auto plan = planFor(after);
  EXPECT_EQ(plan.at("openvpn-public"), ReloadAction::kRestart);
  EXPECT_EQ(plan.at("tinc"), ReloadAction::kNone);
}

TEST(ReloadPlan, NewAndRemovedInstances) {
  auto after = base();
  after.pop_back();
  after.push_back({"openvpn/private.conf", "port 443\n", 0644});
  auto plan = planReload(base(), after, kBackends, {"tinc", "openvpn-private"});
  EXPECT_EQ(plan.at("openvpn-public"), ReloadAction::kStop);
  EXPECT_EQ(plan.at("openvpn-private"), ReloadAction::kStart);
  EXPECT_EQ(plan.at("tinc"), ReloadAction::kNone);
}

TEST(ReloadPlan, ModeChangeCounts) {
  auto after = base();
  after[4].mode = 0600;
  EXPECT_EQ(planFor(after).at("openvpn-public"), ReloadAction::kRestart);
}

TEST(ReloadPlan, BackendOfFile) {
  EXPECT_EQ(backendOfFile("tinc/hosts/chip"), "tinc");
  EXPECT_EQ(backendOfFile("openvpn/public.conf"), "openvpn-public");
  EXPECT_EQ(backendOfFile("openvpn/public/ccd/alice"), "openvpn-public");
  EXPECT_EQ(backendOfFile("README"), "");
}

}  // namespace
}  // namespace meshbroker::supervisor
