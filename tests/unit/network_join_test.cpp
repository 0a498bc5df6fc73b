// Invitations and joins (issue 20), attacked the way an attacker would: a replayed request, a
// forged MAC, a token used twice, an expired or revoked one, a join racing another for the same
// name or address, an answer from a registry the invitation does not pin, an answer replayed
// to another join. Pure: no sockets.
#include <gtest/gtest.h>

#include "network/invitation.hpp"
#include "network/registry.hpp"
#include "network/registry_state.hpp"
#include "network/signing.hpp"
#include "tests/unit/test_support.hpp"

namespace meshbroker::network {
namespace {

const std::string kKey = "-----BEGIN RSA PUBLIC KEY-----\nBBBB\n-----END RSA PUBLIC KEY-----\n";
constexpr std::int64_t kNow = 1'780'000'000'000;
constexpr std::int64_t kDay = 86'400'000;

config::Cidr prefix() { return *config::Cidr::parse("100.64.12.0/27", nullptr); }

model::NetworkDocument network() {
  model::NetworkDocument d;
  d.network = "seed";
  d.version = 4;
  d.nodes.push_back({"chip", "server", "100.64.12.1", "192.0.2.11", 655, kKey, {}, {}});
  d.nodes.push_back(
      {"comegato", "server", "100.64.12.2", "192.0.2.12", std::nullopt, kKey, {}, {}});
  return d;
}

JoinRequest requestFor(const std::string& token, const std::string& name = "") {
  return {inviteId(token), name, kKey, newNonce(), std::nullopt, std::nullopt};
}

TEST(Invitation, TheLineRoundTripsAndGarbageIsRefused) {
  const InvitationLine line{"192.0.2.11", 8657, newToken(),
                            fingerprintOf(publicKeyOf(generateSigningKey()))};
  std::string error;
  auto parsed = parseInvitation(formatInvitation(line), error);
  ASSERT_TRUE(parsed) << error;
  EXPECT_EQ(parsed->token, line.token);
  EXPECT_EQ(parsed->fingerprint, line.fingerprint);
  auto v6 = line;
  v6.host = "2001:db8::1";
  parsed = parseInvitation(formatInvitation(v6), error);
  ASSERT_TRUE(parsed) << error;
  EXPECT_EQ(parsed->host, "2001:db8::1");
  for (const std::string& bad :
       {std::string("mb2:192.0.2.11:8657/x/y"), "mb1:192.0.2.11/" + line.token,
        "mb1:192.0.2.11:99999/" + line.token + "/" + line.fingerprint,
        "mb1:192.0.2.11:8657/" + line.token + "/md5:abc",
        "mb1:192.0.2.11:8657/" + line.token.substr(1) + "/" + line.fingerprint,
        "mb1:192.0.2.11\nAddress=1:8657/" + line.token + "/" + line.fingerprint}) {
    EXPECT_FALSE(parseInvitation(bad, error)) << bad;
    EXPECT_NE(error.find("not an invitation"), std::string::npos);
  }
}

TEST(Invitation, AllocatesAFreeAddressAndRefusesTakenNamesAndAddresses) {
  RegistryState state;
  auto made = invite(state, network(), prefix(), {"cometa", "gateway", std::nullopt, std::nullopt},
                     newToken(), kNow, kDay);
  ASSERT_EQ(made.error, "");
  EXPECT_EQ(made.invitation.mesh_address, "100.64.12.3");
  EXPECT_EQ(made.invitation.expires_ms, kNow + kDay);
  // The pending invitation holds its address and name.
  auto next = invite(state, network(), prefix(),
                     {"illimani", "gateway", std::nullopt, std::nullopt}, newToken(), kNow, kDay);
  EXPECT_EQ(next.invitation.mesh_address, "100.64.12.4");
  EXPECT_NE(invite(state, network(), prefix(), {"cometa", "gateway", std::nullopt, std::nullopt},
                   newToken(), kNow, kDay)
                .error.find("pending invitation"),
            std::string::npos);
  EXPECT_NE(invite(state, network(), prefix(), {"chip", "server", std::nullopt, std::nullopt},
                   newToken(), kNow, kDay)
                .error.find("in the network already"),
            std::string::npos);
  EXPECT_NE(
      invite(state, network(), prefix(), {"x", "gateway", std::string("100.64.12.2"), std::nullopt},
             newToken(), kNow, kDay)
          .error.find("is taken"),
      std::string::npos);
  EXPECT_NE(
      invite(state, network(), prefix(),
             {"x", "gateway", std::string("100.64.12.31"), std::nullopt}, newToken(), kNow, kDay)
          .error.find("not a host address"),
      std::string::npos);
  EXPECT_NE(invite(state, network(), prefix(), {"x", "registry", std::nullopt, std::nullopt},
                   newToken(), kNow, kDay)
                .error.find("role"),
            std::string::npos);
  EXPECT_NE(invite(state, network(), prefix(), {"bad name", "gateway", std::nullopt, std::nullopt},
                   newToken(), kNow, kDay)
                .error.find("bad name"),
            std::string::npos);
  // The record keeps the id and a derived key, never the token; it round-trips.
  const auto text = toJson(state).dump();
  auto parsed = parseRegistryState(text);
  ASSERT_TRUE(parsed.state) << parsed.error;
  EXPECT_EQ(parsed.state->invitations, state.invitations);
}

TEST(Join, ATokenProvesOnceAndOnlyForItsName) {
  RegistryState state;
  const auto token = newToken();
  ASSERT_EQ(invite(state, network(), prefix(), {"cometa", "gateway", std::nullopt, std::nullopt},
                   token, kNow, kDay)
                .error,
            "");
  const auto request = sealJoinRequest(requestFor(token), token);

  // Without the token: a forged MAC, the request of another invitation's token.
  auto forged = nlohmann::json::parse(request);
  forged["mac"] = encodeBase64(std::string(32, 'x'));
  auto refused = admit(state, network(), forged.dump(), kNow, "203.0.113.9:4000");
  EXPECT_EQ(refused.status, 403);
  EXPECT_NE(refused.error.find("does not prove"), std::string::npos) << refused.error;
  auto other = requestFor(newToken());
  other.invite = inviteId(token);  // the id an eavesdropper saw, a MAC under another key
  EXPECT_NE(admit(state, network(), sealJoinRequest(other, newToken()), kNow, "x")
                .error.find("does not prove"),
            std::string::npos);
  // The request's text altered after the MAC (another name): refused.
  auto altered = nlohmann::json::parse(request);
  auto inner = nlohmann::json::parse(altered["request"].get<std::string>());
  inner["name"] = "intruder";
  altered["request"] = inner.dump();
  EXPECT_NE(admit(state, network(), altered.dump(), kNow, "x").error.find("does not prove"),
            std::string::npos);
  // With the token but for another name.
  EXPECT_NE(
      admit(state, network(), sealJoinRequest(requestFor(token, "intruder"), token), kNow, "x")
          .error.find("is for cometa"),
      std::string::npos);
  EXPECT_TRUE(state.joined.empty()) << "a refused request changed the record";
  EXPECT_EQ(state.invitations[0].used_ms, 0) << "a refused request used the invitation";

  auto admitted = admit(state, network(), request, kNow + 1000, "198.51.100.2:5000");
  ASSERT_EQ(admitted.error, "");
  ASSERT_TRUE(admitted.node);
  EXPECT_EQ(admitted.node->name, "cometa");
  EXPECT_EQ(admitted.node->mesh_address, "100.64.12.3");
  EXPECT_EQ(admitted.node->tinc_public_key, kKey);
  EXPECT_EQ(state.joined.size(), 1u);
  EXPECT_EQ(state.invitations[0].used_from, "198.51.100.2:5000");

  // The same request again (a replay), or a fresh one with the token (a second join).
  auto replay = admit(state, network(), request, kNow + 2000, "203.0.113.9:4000");
  EXPECT_EQ(replay.status, 403);
  EXPECT_NE(replay.error.find("used already"), std::string::npos) << replay.error;
  EXPECT_NE(admit(state, network(), sealJoinRequest(requestFor(token), token), kNow + 2000, "x")
                .error.find("used already"),
            std::string::npos);
  EXPECT_EQ(state.joined.size(), 1u);
  EXPECT_NE(admit(state, network(), "{\"request\":", kNow, "x").error.find("not JSON"),
            std::string::npos);
  EXPECT_EQ(admit(state, network(), std::string(kMaxJoinRequestBytes + 1, ' '), kNow, "x").status,
            413);
  EXPECT_EQ(
      admit(state, network(), sealJoinRequest(requestFor(newToken()), newToken()), kNow, "x").error,
      "unknown invitation");
}

TEST(Join, ExpiredRevokedAndRacingJoinsAreRefused) {
  RegistryState state;
  const auto expired = newToken(), revoked = newToken(), first = newToken(), second = newToken();
  invite(state, network(), prefix(), {"old", "gateway", std::nullopt, std::nullopt}, expired, kNow,
         1000);
  invite(state, network(), prefix(), {"gone", "gateway", std::nullopt, std::nullopt}, revoked, kNow,
         kDay);
  EXPECT_EQ(revokeInvitation(state, revoked), "");
  EXPECT_NE(revokeInvitation(state, revoked).find("revoked already"), std::string::npos);
  EXPECT_NE(revokeInvitation(state, "0123").find("no invitation"), std::string::npos);
  EXPECT_NE(admit(state, network(), sealJoinRequest(requestFor(expired), expired), kNow + 1000, "x")
                .error.find("expired"),
            std::string::npos);
  EXPECT_NE(admit(state, network(), sealJoinRequest(requestFor(revoked), revoked), kNow, "x")
                .error.find("revoked"),
            std::string::npos);

  // Two invitations that end up wanting one address: the network changed between invite and
  // join (an operator gave the address to a host by config). The second join finds it taken.
  const auto a = invite(state, network(), prefix(),
                        {"nevado", "gateway", std::nullopt, std::nullopt}, first, kNow, kDay);
  ASSERT_EQ(a.error, "");
  auto current = network();
  current.nodes.push_back(
      {"manual", "gateway", a.invitation.mesh_address, std::nullopt, std::nullopt, kKey, {}, {}});
  auto raced = admit(state, current, sealJoinRequest(requestFor(first), first), kNow, "x");
  EXPECT_EQ(raced.status, 409);
  EXPECT_NE(raced.error.find("taken meanwhile by manual"), std::string::npos) << raced.error;
  // And a name that joined meanwhile by another way.
  ASSERT_EQ(invite(state, network(), prefix(), {"sajama", "gateway", std::nullopt, std::nullopt},
                   second, kNow, kDay)
                .error,
            "");
  current.nodes.push_back(
      {"sajama", "gateway", "100.64.12.30", std::nullopt, std::nullopt, kKey, {}, {}});
  EXPECT_NE(admit(state, current, sealJoinRequest(requestFor(second), second), kNow, "x")
                .error.find("in the network already"),
            std::string::npos);
}

TEST(Join, TheAnswerIsTheRegistrysAndForThisRequestOnly) {
  const auto key = generateSigningKey();
  const auto fingerprint = fingerprintOf(publicKeyOf(key));
  const nlohmann::json reply = {{"config", {{"name", "cometa"}}}, {"envelope", "{}"}};
  const auto nonce = newNonce();
  const auto sealed = sealJoinReply(reply, nonce, key);
  auto opened = openJoinReply(sealed, nonce, fingerprint);
  ASSERT_TRUE(opened.reply) << opened.error;
  EXPECT_EQ((*opened.reply)["config"]["name"], "cometa");
  // Replayed to another join (another nonce), signed by another registry, or altered.
  EXPECT_NE(openJoinReply(sealed, newNonce(), fingerprint).error.find("does not match"),
            std::string::npos);
  const auto impostor = sealJoinReply(reply, nonce, generateSigningKey());
  EXPECT_NE(openJoinReply(impostor, nonce, fingerprint).error.find("not this network's registry"),
            std::string::npos);
  auto altered = nlohmann::json::parse(sealed);
  altered["reply"] = nlohmann::json{{"config", {{"name", "evil"}}}, {"envelope", "{}"}}.dump();
  EXPECT_NE(openJoinReply(altered.dump(), nonce, fingerprint).error.find("does not match"),
            std::string::npos);
  EXPECT_FALSE(openJoinReply("garbage", nonce, fingerprint).reply);
}

TEST(Join, TheSkeletonConnectsToTheServersAndPinsTheKey) {
  auto file = testing::example("chip");
  file["network"] = {
      {"name", "seed"}, {"registry", "chip"}, {"key", publicKeyOf(generateSigningKey())}};
  auto loaded = testing::parseAs("chip", file.dump());
  ASSERT_TRUE(loaded.config) << testing::describe(loaded.diagnostics);
  auto d = network();
  const model::NetworkNode node{
      "cometa", "gateway", "100.64.12.3", std::nullopt, std::nullopt, kKey, {}, {}};
  const auto skeleton = joinSkeleton(*loaded.config, d, node);
  EXPECT_EQ(skeleton["tinc"]["address"], "100.64.12.3");
  EXPECT_EQ(skeleton["tinc"]["connect_to"], (nlohmann::json{"chip", "comegato"}));
  EXPECT_EQ(skeleton["hosts"].size(), 2u);
  EXPECT_TRUE(skeleton["hosts"][0]["from_network"].get<bool>());
  EXPECT_EQ(skeleton["network"]["key"], file["network"]["key"]);
  EXPECT_EQ(skeleton.dump().find("PRIVATE"), std::string::npos);
}

// A dual-stack network (the registry's config has /tinc/prefix6): the invitation promises an
// IPv6 mesh address too, the join gives it to the node, and the skeleton makes a config that
// loads as dual stack. An IPv4-only network's records stay as they were.
TEST(Join, ADualStackNetworkGivesAnIpv6MeshAddressToo) {
  const auto prefix6 = *config::Cidr6::parse("fd00:64:12::/64", nullptr);
  auto current = network();
  current.nodes[0].mesh_address6 = "fd00:64:12::1";    // chip
  current.nodes[1].mesh_address6 = "fd00:64:12:0::4";  // comegato (another spelling of ::4)
  RegistryState state;
  const auto token = newToken();
  auto made = invite(state, current, prefix(), {"cometa", "gateway", std::nullopt, std::nullopt},
                     token, kNow, kDay, prefix6);
  ASSERT_EQ(made.error, "");
  EXPECT_EQ(made.invitation.mesh_address, "100.64.12.3");
  EXPECT_EQ(made.invitation.mesh_address6, "fd00:64:12::3");  // the same host number
  // Host number 4 is comegato's IPv6 address: the lowest free one instead (::1 is chip's).
  auto next = invite(state, current, prefix(), {"illimani", "gateway", std::nullopt, std::nullopt},
                     newToken(), kNow, kDay, prefix6);
  EXPECT_EQ(next.invitation.mesh_address, "100.64.12.4");
  EXPECT_EQ(next.invitation.mesh_address6, "fd00:64:12::2");
  // A pending invitation holds its IPv6 address too.
  auto third = invite(state, current, prefix(), {"sajama", "gateway", std::nullopt, std::nullopt},
                      newToken(), kNow, kDay, prefix6);
  EXPECT_EQ(third.invitation.mesh_address6, "fd00:64:12::5");
  // --mesh-address6: a free host of prefix6, in its normal spelling; refused when taken (by a
  // node or a pending invitation, whatever the spelling), outside prefix6, the prefix itself,
  // not IPv6, or in an IPv4-only network.
  auto asked =
      invite(state, current, prefix(), {"tunari", "gateway", std::nullopt, "fd00:64:12:0:0::99"},
             newToken(), kNow, kDay, prefix6);
  ASSERT_EQ(asked.error, "");
  EXPECT_EQ(asked.invitation.mesh_address6, "fd00:64:12::99");
  for (const auto& [wish, why] : std::vector<std::pair<std::string, std::string>>{
           {"fd00:64:12::4", "is taken"},                     // comegato's
           {"fd00:64:12:0::5", "is taken"},                   // sajama's pending invitation
           {"fd00:64:13::1", "not a host address"},           // outside prefix6
           {"fd00:64:12::", "not a host address"},            // the prefix itself
           {"100.64.12.20", "--mesh-address6 100.64.12.20"},  // not IPv6
           {"fd00:64:12::20\nAddress = evil", "--mesh-address6"}}) {
    auto refused = invite(state, current, prefix(), {"x", "gateway", std::nullopt, wish},
                          newToken(), kNow, kDay, prefix6);
    EXPECT_NE(refused.error.find(why), std::string::npos) << wish << ": " << refused.error;
  }
  RegistryState ipv4_only;
  EXPECT_NE(invite(ipv4_only, network(), prefix(), {"x", "gateway", std::nullopt, "fd00:64:12::20"},
                   newToken(), kNow, kDay)
                .error.find("no IPv6 mesh prefix"),
            std::string::npos);
  // The record round-trips, and garbage in its IPv6 field is refused.
  auto record = toJson(state);
  auto parsed = parseRegistryState(record.dump());
  ASSERT_TRUE(parsed.state) << parsed.error;
  EXPECT_EQ(parsed.state->invitations, state.invitations);
  record["invitations"][0]["mesh_address6"] = "100.64.12.3";
  EXPECT_NE(parseRegistryState(record.dump()).error.find("mesh_address6"), std::string::npos);
  record["invitations"][0]["mesh_address6"] = "fd00::1\nAddress = evil";
  EXPECT_FALSE(parseRegistryState(record.dump()).state);

  // The join gives the node its IPv6 address, unless another node took it meanwhile.
  auto admitted = admit(state, current, sealJoinRequest(requestFor(token), token), kNow, "x");
  ASSERT_EQ(admitted.error, "");
  EXPECT_EQ(admitted.node->mesh_address6, std::optional<std::string>("fd00:64:12::3"));
  const auto raced_token = newToken();
  auto raced_invite =
      invite(state, current, prefix(), {"nevado", "gateway", std::nullopt, std::nullopt},
             raced_token, kNow, kDay, prefix6);
  ASSERT_EQ(raced_invite.error, "");
  auto raced_network = current;
  raced_network.nodes.push_back({"manual",
                                 "gateway",
                                 "100.64.12.29",
                                 std::nullopt,
                                 std::nullopt,
                                 kKey,
                                 {},
                                 {},
                                 raced_invite.invitation.mesh_address6,
                                 {}});
  auto raced =
      admit(state, raced_network, sealJoinRequest(requestFor(raced_token), raced_token), kNow, "x");
  EXPECT_EQ(raced.status, 409);
  EXPECT_NE(raced.error.find("taken meanwhile by manual"), std::string::npos) << raced.error;

  // The skeleton: the node's IPv6 address, the prefix, and the servers' IPv6 fields; it loads.
  auto file = testing::example("chip");
  file["network"] = {
      {"name", "seed"}, {"registry", "chip"}, {"key", publicKeyOf(generateSigningKey())}};
  auto loaded = testing::parseAs("chip", file.dump());
  ASSERT_TRUE(loaded.config) << testing::describe(loaded.diagnostics);
  current.nodes[0].client_subnets6 = {"fd00:172:16:3::/64"};
  const auto skeleton = joinSkeleton(*loaded.config, current, *admitted.node);
  EXPECT_EQ(skeleton["tinc"]["address6"], "fd00:64:12::3");
  EXPECT_EQ(skeleton["tinc"]["prefix6"], "fd00:64:12::/64");
  EXPECT_EQ(skeleton["hosts"][0]["mesh_address6"], "fd00:64:12::1");
  EXPECT_EQ(skeleton["hosts"][0]["client_subnets6"], (nlohmann::json{"fd00:172:16:3::/64"}));
  auto config = skeleton;
  config["paths"] = {{"state_dir", "/var/lib/meshbroker"}, {"runtime_dir", "/run/meshbroker"}};
  auto joined = testing::parseAs("cometa", config.dump());
  ASSERT_TRUE(joined.config) << testing::describe(joined.diagnostics);
  EXPECT_TRUE(joined.config->tinc.address6.has_value());

  // An IPv4-only registry: no IPv6 anywhere, in the invitation, its record or the skeleton.
  RegistryState plain;
  auto v4 = invite(plain, network(), prefix(), {"cometa", "gateway", std::nullopt, std::nullopt},
                   newToken(), kNow, kDay);
  EXPECT_EQ(v4.invitation.mesh_address6, "");
  EXPECT_FALSE(toJson(plain)["invitations"][0].contains("mesh_address6"));
  auto v4_file = testing::exampleIpv4Only("chip");
  v4_file["network"] = file["network"];
  auto v4_loaded = testing::parseAs("chip", v4_file.dump());
  ASSERT_TRUE(v4_loaded.config) << testing::describe(v4_loaded.diagnostics);
  const auto v4_skeleton = joinSkeleton(*v4_loaded.config, current, *admitted.node);
  EXPECT_FALSE(v4_skeleton["tinc"].contains("address6"));
  EXPECT_FALSE(v4_skeleton["tinc"].contains("prefix6"));
  EXPECT_FALSE(v4_skeleton["hosts"][0].contains("mesh_address6"));
  EXPECT_FALSE(v4_skeleton["hosts"][0].contains("client_subnets6"));
}

}  // namespace
}  // namespace meshbroker::network
