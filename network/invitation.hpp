// Invitations (issue 20, docs/network.md "Joining"): how a new node joins with one line and
// nothing else. Pure apart from newToken() (OpenSSL's random bytes).
//
// The registry makes a single-use token with a TTL and keeps only its id (SHA-256, first 16
// bytes, hex) and a key derived from it (HMAC-SHA256(token, "meshbroker-join/1")). The joiner
// sends its request (its name, its new tinc public key, a fresh nonce) with an HMAC under that
// key: the token never travels, so an eavesdropper learns nothing it could reuse, and a
// replayed request finds the invitation used. The registry answers with the node's config
// skeleton and the signed network document, signed with the network key over the joiner's
// nonce and the reply, so only the registry whose key the invitation's fingerprint pins can
// answer, and an old answer cannot be replayed to another join.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "config/types.hpp"
#include "model/network_document.hpp"

namespace meshbroker::network {

struct RegistryState;

// "mb1:<host>:<port>/<token>/<sha256 fingerprint of the network key>"
struct InvitationLine {
  std::string host;  // the registry's public address (an IPv4/IPv6 literal or a DNS name)
  std::uint16_t port = 0;
  std::string token;
  std::string fingerprint;
};
std::string formatInvitation(const InvitationLine& line);
std::optional<InvitationLine> parseInvitation(std::string_view text, std::string& error);

std::string newToken();  // 32 random bytes, base64url without padding
std::string newNonce();  // 32 random bytes, base64
std::string inviteId(std::string_view token);
std::string joinKey(std::string_view token);  // base64

struct Invitation {
  std::string id;
  std::string key;  // joinKey(token): the registry never keeps the token itself
  std::string name;
  std::string role;  // "server" | "gateway"
  std::string mesh_address;
  std::int64_t created_ms = 0;
  std::int64_t expires_ms = 0;
  std::int64_t used_ms = 0;  // 0: not used
  std::string used_from;     // the joiner's address, for the log and `invite --list`
  bool revoked = false;
  // In a dual-stack network (the registry's config has /tinc/prefix6): the node's IPv6 mesh
  // address; empty in an IPv4-only one (and absent from the record, as before IPv6).
  std::string mesh_address6 = {};
  bool operator==(const Invitation&) const = default;

  // Usable at now_ms: neither used, revoked nor expired. Empty when usable, else why not.
  std::string unusable(std::int64_t now_ms) const;
};

nlohmann::json toJson(const Invitation& invitation);
std::optional<Invitation> parseInvitationRecord(const nlohmann::json& value,
                                                const std::string& where, std::string& error);

// What the operator asks for (meshbroker invite NAME --role --mesh-address --mesh-address6).
struct InviteAsk {
  std::string name;
  std::string role;
  std::optional<std::string> mesh_address;   // else the first free one
  std::optional<std::string> mesh_address6;  // dual stack only; else chosen as below
};

// On the registry: a new invitation for `ask.name` with `ask.role`, at `ask.mesh_address` or
// the first free address of `prefix` (not a node's, not a pending invitation's, not the
// prefix's first or last). Refuses a name or address in the network or promised to a pending
// invitation. With `prefix6` (a dual-stack network) it also promises an IPv6 mesh address:
// `ask.mesh_address6` (a host of prefix6, free), else the IPv4 address's host number in prefix6
// (100.64.12.13 in 100.64.12.0/27 -> fd00:64:12::d in fd00:64:12::/64) when that is free, else
// the lowest free one from ::1. An IPv6 address asked for in an IPv4-only network is refused.
struct InviteResult {
  std::string error;  // empty: done
  Invitation invitation;
};
InviteResult invite(RegistryState& state, const model::NetworkDocument& current,
                    const config::Cidr& prefix, const InviteAsk& ask, const std::string& token,
                    std::int64_t now_ms, std::int64_t ttl_ms,
                    const std::optional<config::Cidr6>& prefix6 = std::nullopt);

// Revokes the invitation whose id or token this is. Empty when done, else why not.
std::string revokeInvitation(RegistryState& state, std::string_view id_or_token);

// The joiner's request.
struct JoinRequest {
  std::string invite;                         // the invitation's id
  std::string name;                           // empty: the invited name
  std::string tinc_public_key;                // PEM
  std::string nonce;                          // base64 of 32 random bytes
  std::optional<std::string> public_address;  // a server's, where the others ConnectTo it
  std::optional<std::uint16_t> port;          // its tinc port there (655)
};
std::string sealJoinRequest(const JoinRequest& request, std::string_view token);

// On the registry: checks a join request against the invitations at now_ms and, when it proves
// a usable invitation, marks that used (before any reply: a second or racing request fails) and
// adds the node to `state.joined`. Refuses in this order: garbage, unknown invitation, the MAC
// (so that nobody without the token can even learn whether it was used), revoked, used,
// expired, a name that is not the invited one, a name or address taken meanwhile.
struct Admission {
  std::string error;  // empty: admitted
  int status = 200;   // the HTTP status for the error
  std::optional<model::NetworkNode> node;
  std::string nonce;  // the request's, for the reply's signature
};
Admission admit(RegistryState& state, const model::NetworkDocument& current, std::string_view body,
                std::int64_t now_ms, const std::string& from);

// The registry's reply: `reply` (the config skeleton and the signed document) signed with the
// network key over the request's nonce and the reply's bytes.
std::string sealJoinReply(const nlohmann::json& reply, const std::string& nonce,
                          std::string_view signing_key_pem);
struct OpenedReply {
  std::optional<nlohmann::json> reply;  // {"config": {...}, "envelope": "..."}
  std::string key;                      // the network's public key, checked against the line
  std::string error;
};
OpenedReply openJoinReply(std::string_view body, const std::string& nonce,
                          const std::string& fingerprint);

inline constexpr std::size_t kMaxJoinRequestBytes = 64 * 1024;
inline constexpr std::size_t kMaxInvitations = 1024;

}  // namespace meshbroker::network
