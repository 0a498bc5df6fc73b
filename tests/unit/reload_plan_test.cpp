// Reload planning: what each kind of file change does to each backend.
#include "supervisor/reload_plan.hpp"

#include <gtest/gtest.h>

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
