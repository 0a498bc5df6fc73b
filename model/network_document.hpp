// The network document (issue 20): who is in the network, as the registry publishes it. Every
// node pulls it, verifies the registry's signature (network/), and applies it. Plain types and
// their one JSON form; parsing and checking untrusted text is network/document.*.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace meshbroker::model {

// An OpenVPN instance a server offers: enough for a client profile's `remote` line.
struct NetworkOffer {
  std::string name;  // the instance name (the same on every server offering it)
  std::uint16_t port = 0;
  std::string proto;  // "udp" or "tcp"
  bool operator==(const NetworkOffer&) const = default;
};

struct NetworkNode {
  std::string name;                           // tinc node name: [A-Za-z0-9_]
  std::string role;                           // "server" or "gateway"
  std::string mesh_address;                   // IPv4 inside the mesh prefix
  std::optional<std::string> public_address;  // where others ConnectTo it (servers)
  std::optional<std::uint16_t> port;          // tinc port at public_address
  std::string tinc_public_key;                // tinc 1.0 RSA public key, PEM
  std::vector<NetworkOffer> openvpn;          // OpenVPN instances it offers
  std::vector<std::string> client_subnets;    // those instances' pools (CIDR), routed back to it
  // IPv6 (issue 21), absent from the JSON when unused, so an IPv4-only document is unchanged.
  // (Initialised here so that the positional initialisers of an IPv4-only node stay complete.)
  std::optional<std::string> mesh_address6 = std::nullopt;  // inside the IPv6 mesh prefix
  std::vector<std::string> client_subnets6 = {};            // its instances' IPv6 pools
  bool operator==(const NetworkNode&) const = default;
};

struct NetworkDocument {
  std::string network;                      // the network's name; a node refuses another network's
  std::uint64_t version = 0;                // only ever grows; a node accepts only a higher one
  std::int64_t issued_ms = 0;               // wall clock at signing, for people
  std::vector<NetworkNode> nodes;           // sorted by name
  std::map<std::string, std::string> crls;  // OpenVPN instance -> its CRL, PEM
  // Nodes taken out of the network (`meshbroker node remove`), sorted: every node drops them,
  // even a host its own config file names, and shows them as removed.
  std::vector<std::string> removed;
  bool operator==(const NetworkDocument&) const = default;

  const NetworkNode* node(const std::string& name) const;
};

// What this node knows of the network document, for status (none without a `network` section).
struct NetworkSnapshot {
  std::string name;             // the network's name (config)
  std::string registry;         // the registry's node name (config)
  std::string key_fingerprint;  // sha256:... of the pinned key
  bool is_registry = false;
  std::uint64_t version = 0;         // of the document held (0: none yet)
  std::int64_t issued_ms = 0;        // when the registry signed it
  std::int64_t held_since_ms = 0;    // when this node took it
  std::size_t nodes = 0;             // how many nodes it lists
  std::int64_t last_pull_ms = 0;     // last answer from a server (any: same, newer, refused)
  std::string last_pull_from;        // that server
  std::vector<std::string> removed;  // nodes the document says were removed
  std::string last_error;            // the last refusal or failure ("" after a good pull)
  std::int64_t last_error_ms = 0;
  bool serving = false;  // this node serves the document on its mesh address
};

nlohmann::json toJson(const NetworkOffer& offer);
nlohmann::json toJson(const NetworkNode& node);
nlohmann::json toJson(const NetworkSnapshot& network);
nlohmann::json toJson(const NetworkDocument& document);

}  // namespace meshbroker::model
