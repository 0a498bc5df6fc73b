// The typed, validated configuration of one meshbroker node. Built only by the loader.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "config/types.hpp"

namespace meshbroker::config {

enum class Role { kServer, kGateway };
enum class TincMode { kRouter, kSwitch, kHub };
enum class Proto { kUdp, kTcp };
enum class InstanceKind { kPublic, kPrivate };
enum class RoutePolicy { kFailover, kBalance };
enum class AllDownPolicy { kUnreachable, kBlackhole, kKeepLast };

std::string_view toString(Role role);
std::string_view toString(TincMode mode);
std::string_view toString(Proto proto);
std::string_view toString(InstanceKind kind);
std::string_view toString(RoutePolicy policy);
std::string_view toString(AllDownPolicy policy);

// Where a peer can be dialled over the Internet.
struct PublicEndpoint {
  HostAddress address;
  Port port;
};

// The tinc mesh as this node sees it.
struct TincConfig {
  NodeName netname;
  InterfaceName interface;
  Ipv4Address address;  // this node's mesh address
  Cidr prefix;          // the mesh prefix; every mesh address lies inside it
  // IPv6 (optional, both or neither): this node's IPv6 mesh address inside the network's IPv6
  // mesh prefix (ULA or global). Without them the node is IPv4 only, as before.
  std::optional<Ipv6Address> address6;
  std::optional<Cidr6> prefix6;
  Port port;
  TincMode mode = TincMode::kSwitch;
  std::string cipher;  // from an allow-list of OpenSSL names tinc 1.0 accepts
  std::string digest;
  // Accepts a cipher, digest or mode that gives up secrecy or isolation (none, bf-cbc, sha1,
  // hub): without it they are errors.
  bool insecure = false;
  int compression = 0;  // 0 off, 1..9 zlib, 10..11 LZO
  int key_size = 3072;
  std::vector<NodeName> connect_to;
  std::optional<PublicEndpoint> public_endpoint;  // servers: where peers dial us
  std::filesystem::path private_key_file;
  std::filesystem::path public_key_file;
  std::optional<PublicKeyPem> public_key;  // read from public_key_file when it exists
};

// An OpenVPN instance another server offers to clients: client profiles list it as a `remote`.
struct OfferedInstance {
  NodeName name;  // the instance name (the same name on every server that offers it)
  Port port;
  Proto proto = Proto::kUdp;
};

// Another member of the mesh that this node knows.
struct Host {
  NodeName name;
  Role role = Role::kServer;
  Ipv4Address mesh_address;
  std::optional<Ipv6Address> mesh_address6;  // inside /tinc/prefix6; none: IPv4 only
  std::optional<PublicEndpoint> public_endpoint;
  // nullopt when missing or unusable: the peer is then dropped (its host file carries no key,
  // so tincd refuses its connections) with a warning, never an error.
  std::optional<PublicKeyPem> public_key;
  std::optional<std::filesystem::path> public_key_file;
  std::vector<Cidr> client_subnets;      // servers' OpenVPN client subnets (gateways route back)
  std::vector<Cidr6> client_subnets6;    // and their IPv6 pools
  std::vector<OfferedInstance> openvpn;  // servers: instances they offer (profile remotes)
  // Written by `meshbroker join`: the network document's entry for this node replaces this one
  // (the file names it only so that connect_to can, before the first document).
  bool from_network = false;
};

struct OpenVpnInstance {
  NodeName name;
  InstanceKind kind = InstanceKind::kPrivate;
  Port port;
  Proto proto = Proto::kUdp;
  Cidr subnet;
  // The clients' IPv6 pool (`server-ipv6`): a routed /64 (OpenVPN takes /64../112 here), from
  // the network's ULA or global space. Needs /tinc/address6: routes back point at it.
  std::optional<Cidr6> subnet6;
  InterfaceName interface;
  int max_clients = 0;             // 0: OpenVPN's default (1024)
  std::optional<Rate> rate_limit;  // per client; public instances only
  // Per source address, in meshbroker's nftables table (0: no cap). Public instances default
  // to 20 new connections a minute and 16 at once: their tls-crypt key is public, and many
  // people may share one address behind carrier-grade NAT.
  int per_source_new_per_minute = 0;
  int per_source_connections = 0;
  // OpenVPN's keepalive, pushed to clients: a ping after ping_s quiet seconds each way, and a
  // client that hears nothing for ping_restart_s reconnects (to the next server). The server
  // drops a silent client after twice that. docs/openvpn.md says how the defaults were measured.
  int ping_s = 1;
  int ping_restart_s = 4;
  // What one user may move in a UTC month, both directions together: a private instance's
  // user is a certificate, a public instance's is a source address (one certificate for all).
  // Past it the sessions are ended and refused until the month ends. nullopt: no quota.
  std::optional<Volume> quota;
};

struct RouteVia {
  NodeName gateway;
  int weight = 1;    // balance: share of flows (1..256)
  int priority = 0;  // failover: lower wins
};

struct RouteSet {
  NodeName name;
  std::vector<IpPrefix> to;  // destination prefixes, IPv4 and IPv6 (issue 21)
  std::vector<Cidr> from;    // optional source subnets (policy routing); empty: all traffic
  std::vector<RouteVia> via;
  // "via": "all_gateways": every gateway this node knows, the network document's included
  // (weight 1, priority 0, by name); resolveAllGateways() fills `via` from the hosts.
  bool all_gateways = false;
  // Gateways the network document removed from `via` (network/overlay): the set may then be
  // left with none, which is not a config error; its all_down policy applies.
  std::vector<std::string> removed_via;
  RoutePolicy policy = RoutePolicy::kFailover;
  AllDownPolicy all_down = AllDownPolicy::kUnreachable;
};

struct HealthConfig {
  int interval_ms = 200;
  int timeout_ms = 150;  // upper bound; the probe timeout adapts to the measured RTT below it
  int down_after = 8;    // failed probes in a row (re-probes count) before a gateway is down
  int up_after = 10;
  int warmup_ms = 2000;
  int burst = 7;                              // immediate re-probes after a first miss
  std::optional<Ipv4Address> through_target;  // a mesh host probed through each gateway
  int loss_down_pct = 35;                     // sustained probe loss that takes a gateway down
  int rtt_down_ms = 0;                        // smoothed RTT that takes it down (0: off)
  int flap_hold_ms = 5000;       // a gateway that goes down again soon is held down this...
  int flap_hold_max_ms = 60000;  // ...doubling per flap, up to this
  std::optional<Port> udp_port;  // also probe this UDP port on each gateway (any reply is up)
  std::string udp_payload = "meshbroker-probe";  // bytes sent ("udp_payload_hex" in JSON)
  // An IPv6 host beyond the gateways, probed through each over IPv6 (a dual-stack node): a
  // gateway failing it is degraded for the route sets' IPv6 destinations only.
  std::optional<Ipv6Address> through_target6 = std::nullopt;
};

// How meshbroker marks and places the kernel routes and rules it owns.
struct RoutingConfig {
  int protocol = 177;        // rtm_protocol of our routes and rules; only those are touched
  int table_base = 7700;     // per-gateway probe tables and per-source route-set tables
  int rule_priority = 7700;  // `ip rule` priorities start here
  int resync_ms = 5000;      // re-read the kernel and repair drift this often
  // Servers with OpenVPN instances: forward only client subnets <-> the mesh interface
  // through this node (meshbroker's own nftables table); drop the rest into or out of them.
  bool forward_filter = true;
};

struct StatusConfig {
  std::string listen = "127.0.0.1";  // an IPv4/IPv6 literal
  Port port;
  std::optional<std::filesystem::path> token_file;
  int threads = 2;      // HTTP listener threads (event-driven)
  bool enabled = true;  // false: no HTTP listener at all
  // Host header names answered besides the listen address and localhost (DNS rebinding).
  std::vector<std::string> hosts;
  // Lets `listen` be an address OpenVPN pushes to public clients (or a wildcard while a public
  // instance runs); without it that is an error.
  bool allow_public_clients = false;
};

struct PathsConfig {
  std::filesystem::path state_dir = "/var/lib/meshbroker";
  std::filesystem::path runtime_dir = "/run/meshbroker";
  std::filesystem::path render_dir = "/var/lib/meshbroker/rendered";
  // OpenVPN CA, certificates, CRL, tls-crypt keys and the issued-client index; shared by
  // every server of the network (Ansible copies it), so one profile works on all of them.
  std::filesystem::path pki_dir = "/var/lib/meshbroker/pki";
};

// How meshbroker runs tincd and openvpn.
struct SupervisorConfig {
  std::filesystem::path tincd = "/usr/sbin/tincd";
  std::filesystem::path openvpn = "/usr/sbin/openvpn";
  std::filesystem::path nft = "/usr/sbin/nft";  // installs meshbroker's nftables table
  int tinc_debug = 1;                           // tincd -d level (0..5)
  int max_crashes = 10;                   // crashes in a row before a backend is marked failed
  int restart_base_ms = 1000;             // second restart in a row waits this, doubling...
  int restart_max_ms = 60000;             // ...up to this
  int healthy_after_ms = 60000;           // uptime that forgives earlier crashes
  int ready_timeout_ms = 30000;           // spawned but not ready after this: restart
  int stop_timeout_ms = 5000;             // SIGTERM, then SIGKILL after this
  int log_lines = 100;                    // last lines kept per backend for the status API
  int openvpn_status_interval_ms = 5000;  // how often OpenVPN's client list is read
  // Least privilege: tincd (--user) and openvpn (user/group) drop root to these system users
  // once their interfaces are up. "root" keeps root (a warning at start). The Debian package
  // creates both; their group has the same name.
  std::string tinc_user = "meshbroker-tinc";
  std::string openvpn_user = "meshbroker-openvpn";
};

// The network registry (issue 20, docs/network.md). Absent: this node manages itself alone, as
// before. Present: servers serve the registry's signed network document on their mesh address
// and every node pulls it from its ConnectTo servers; the registry signs it.
struct NetworkConfig {
  NodeName name;       // the network's name: a document of another network is refused
  NodeName registry;   // the one node that signs the network document (a server)
  std::string key;     // the registry's public key, "ed25519:<base64 of 32 bytes>", pinned here
  Port port;           // where servers serve the document, on their mesh address (8656)
  int poll_ms = 5000;  // how often a node asks its ConnectTo servers for a newer document
  Port join_port;      // the registry: where `meshbroker join` reaches it, on every address (8657)
  // The registry's private key (PEM, 0600); only read on the registry.
  std::filesystem::path signing_key_file;
};

struct NodeConfig {
  NodeName name;
  Role role = Role::kServer;
  TincConfig tinc;
  std::vector<Host> hosts;
  std::vector<OpenVpnInstance> openvpn;
  std::vector<RouteSet> routes;
  HealthConfig health;
  RoutingConfig routing;
  StatusConfig status;
  PathsConfig paths;
  SupervisorConfig supervisor;
  std::optional<NetworkConfig> network;

  bool isRegistry() const { return network && network->registry == name; }
  const Host* findHost(const NodeName& host_name) const;
};

// Fills the `via` of every "all_gateways" route set with the gateway hosts, by name. The loader
// calls it; so does network/overlay after the document changed the hosts.
void resolveAllGateways(NodeConfig& config);

}  // namespace meshbroker::config
