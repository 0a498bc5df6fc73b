// meshbroker's command line: parses arguments with CLI11 and dispatches to a verb.
#include <CLI/CLI.hpp>
#include <filesystem>
#include <iostream>

#include "cli/client_commands.hpp"
#include "cli/commands.hpp"
#include "cli/handover_command.hpp"
#include "cli/join_commands.hpp"
#include "cli/network_commands.hpp"
#include "cli/routes_command.hpp"
#include "cli/run_command.hpp"
#include "cli/status_command.hpp"
#include "supervisor/privilege_setup.hpp"

namespace {

std::filesystem::path selfBinary() {
  std::error_code ec;
  auto path = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::filesystem::path("/usr/bin/meshbroker") : path;
}

}  // namespace

int main(int argc, char** argv) {
  namespace cli = meshbroker::cli;
  CLI::App app{
      "meshbroker: offer Internet access into a community mesh over tinc and OpenVPN.\n"
      "Renders and supervises tincd and OpenVPN from one JSON config per node."};
  app.set_version_flag("--version", std::string("meshbroker ") + MESHBROKER_VERSION);
  app.require_subcommand(1);
  app.footer("Config reference: docs/config.md. Examples: examples/seed/.");

  std::string config_file;
  std::string out_dir;
  std::string event;
  std::string runtime_dir = "/run/meshbroker";

  auto* check = app.add_subcommand("check", "Validate a config file; print one line per problem");
  check->add_option("-c,--config", config_file, "Config file (JSON)")->required();

  auto* render = app.add_subcommand(
      "render",
      "Write every file tincd needs (tinc.conf, tinc-up/down, hosts/*, hooks); starts nothing");
  render->add_option("-c,--config", config_file, "Config file (JSON)")->required();
  render->add_option("-o,--output", out_dir, "Folder to write into (default: paths.render_dir)");

  auto* keygen = app.add_subcommand(
      "keygen", "Create this node's tinc RSA key pair if missing; print its public host file");
  keygen->add_option("-c,--config", config_file, "Config file (JSON)")->required();

  auto* run = app.add_subcommand(
      "run",
      "Run the daemon: render, start and supervise tincd and OpenVPN; SIGHUP reloads, "
      "SIGTERM stops");
  run->add_option("-c,--config", config_file, "Config file (JSON)")->required();

  bool status_json = false;
  auto* status = app.add_subcommand("status",
                                    "Ask the running daemon (its HTTP API) how its tunnels, "
                                    "gateways, routes and OpenVPN clients are");
  status->add_option("-c,--config", config_file, "Config file (JSON)")->required();
  status->add_flag("--json", status_json, "Print the /api/v1/status document as JSON");

  bool routes_json = false;
  bool dry_run = false;
  auto* routes = app.add_subcommand(
      "routes", "Show gateway verdicts and what meshbroker would change in the kernel's routes");
  routes->add_option("-c,--config", config_file, "Config file (JSON)")->required();
  routes->add_flag("--dry-run", dry_run, "Change nothing (always; this command only shows)");
  routes->add_flag("--json", routes_json, "JSON output");
  std::string gateway;
  auto* drain = app.add_subcommand("drain", "Take a gateway out of every route set, now");
  drain->add_option("-c,--config", config_file, "Config file (JSON)")->required();
  drain->add_option("gateway", gateway, "Gateway name")->required();
  auto* undrain = app.add_subcommand("undrain", "Put a drained gateway back into its route sets");
  undrain->add_option("-c,--config", config_file, "Config file (JSON)")->required();
  undrain->add_option("gateway", gateway, "Gateway name")->required();

  std::string if_restarting;
  auto* handover = app.add_subcommand(
      "handover",
      "Exit the running daemon for a restart or an upgrade: tincd, openvpn, their routes and "
      "the firewall table keep running and the next `meshbroker run` adopts them (no tunnel "
      "drops). The unit's ExecStop runs it with --if-restarting");
  handover->add_option("-c,--config", config_file, "Config file (JSON)")->required();
  handover->add_option("--if-restarting", if_restarting,
                       "Only when systemd is restarting this unit (systemctl restart, a package "
                       "upgrade); on a stop do nothing, so the stop stops the backends");
  auto* notify = app.add_subcommand(
      "notify", "Used by the rendered tinc hooks: tell the running daemon about a tinc event");
  notify
      ->add_option("event", event, "tinc-up, tinc-down, host-up, host-down, subnet-up, subnet-down")
      ->required()
      ->check(CLI::IsMember(
          {"tinc-up", "tinc-down", "host-up", "host-down", "subnet-up", "subnet-down"}));
  notify->add_option("-r,--runtime-dir", runtime_dir, "The daemon's runtime folder");

  // The network registry (issue 20).
  std::string key_file = "/var/lib/meshbroker/network/signing.key";
  auto* net = app.add_subcommand("network", "The network registry's signed network document");
  net->require_subcommand(1);
  auto* net_init = net->add_subcommand(
      "init",
      "On the registry, once: make the network's signing key and print the public key every "
      "node pins as network.key (refuses if a key exists)");
  net_init->add_option("--key-file", key_file, "Where to keep the private key (0600)")
      ->capture_default_str();
  auto* net_key = net->add_subcommand(
      "key", "On the registry: print the public key (and fingerprint) of its signing key");
  net_key->add_option("--key-file", key_file, "The private key network init made")
      ->capture_default_str();
  auto* net_show =
      net->add_subcommand("show", "Print the network document this node holds, verified");
  net_show->add_option("-c,--config", config_file, "Config file (JSON)")->required();
  std::string node_name;
  auto* node = app.add_subcommand("node", "Nodes of the network (on the registry)");
  node->require_subcommand(1);
  auto* node_remove = node->add_subcommand(
      "remove",
      "On the registry: take a node out of the network; within seconds every node drops its "
      "host file, tinc refuses it and route sets stop using it");
  node_remove->add_option("-c,--config", config_file, "Config file (JSON)")->required();
  node_remove->add_option("name", node_name, "The node's name")->required();

  cli::InviteOptions invite_options;
  bool invite_list = false;
  std::string invite_revoke;
  auto* invite = app.add_subcommand(
      "invite",
      "On the registry: a single-use invitation for a new node (prints the line to hand over: "
      "meshbroker join mb1:...); --list shows them, --revoke ID cancels one");
  invite->add_option("-c,--config", config_file, "Config file (JSON)")->required();
  invite->add_option("name", invite_options.name, "The new node's name");
  invite->add_option("--role", invite_options.role, "gateway or server")
      ->check(CLI::IsMember({"gateway", "server"}))
      ->capture_default_str();
  invite->add_option("--mesh-address", invite_options.mesh_address,
                     "Its mesh address (default: the first free one)");
  invite->add_option("--mesh-address6", invite_options.mesh_address6,
                     "Its IPv6 mesh address, in a dual-stack network (default: the IPv4 "
                     "address's host number in tinc.prefix6 if free, else the first free one)");
  invite->add_option("--ttl", invite_options.ttl, "How long it may be used (s, m, h, d)")
      ->capture_default_str();
  invite->add_option("--address", invite_options.address,
                     "Where the new node reaches the registry (default: its public address)");
  invite->add_flag("--list", invite_list, "List the invitations and their state");
  invite->add_option("--revoke", invite_revoke, "Revoke the invitation with this id (or token)");

  cli::JoinOptions join_options;
  auto* join = app.add_subcommand(
      "join",
      "On a new node: join the network with an invitation (makes this node's tinc key here, "
      "writes its config and the network document; then start meshbroker)");
  join->add_option("invitation", join_options.invitation, "mb1:HOST:PORT/TOKEN/FINGERPRINT")
      ->required();
  join->add_option("-c,--config", join_options.config_file, "The config file to write")
      ->capture_default_str();
  join->add_option("--state-dir", join_options.state_dir, "paths.state_dir of the new config")
      ->capture_default_str();
  join->add_option("--runtime-dir", join_options.runtime_dir, "paths.runtime_dir of the new config")
      ->capture_default_str();
  join->add_option("--public-address", join_options.public_address,
                   "A server's public address, where the other nodes reach its tinc");

  // OpenVPN clients (issue 5).
  std::string client_name;
  std::string instance;
  std::string profile_out;
  bool json = false;
  bool clear = false;
  auto* client = app.add_subcommand("client", "OpenVPN PKI and client profiles");
  client->require_subcommand(1);
  auto* client_init = client->add_subcommand(
      "init", "Create what is missing in the PKI (CA, server certificates, tls-crypt keys, CRL)");
  client_init->add_option("-c,--config", config_file, "Config file (JSON)")->required();
  auto* client_add = client->add_subcommand(
      "add", "Issue a certificate; print an inline .ovpn profile listing every server");
  client_add->add_option("-c,--config", config_file, "Config file (JSON)")->required();
  client_add->add_option("name", client_name, "Client name, [A-Za-z0-9_]{1,64}")->required();
  client_add->add_option("-i,--instance", instance, "Instance (default: the first private one)");
  client_add->add_option("-o,--output", profile_out, "Write the profile to FILE (0600)");
  auto* client_shared = client->add_subcommand(
      "shared", "Print the public instance's shared profile (one certificate for everyone)");
  client_shared->add_option("-c,--config", config_file, "Config file (JSON)")->required();
  client_shared->add_option("-i,--instance", instance, "Instance (default: the first public one)");
  client_shared->add_option("-o,--output", profile_out, "Write the profile to FILE (0600)");
  auto* client_revoke = client->add_subcommand(
      "revoke", "Revoke a client: rewrite the CRL and drop it if connected here");
  client_revoke->add_option("-c,--config", config_file, "Config file (JSON)")->required();
  client_revoke->add_option("name", client_name, "Client name")->required();
  auto* client_list =
      client->add_subcommand("list", "Issued and revoked certificates, connected clients");
  client_list->add_option("-c,--config", config_file, "Config file (JSON)")->required();
  client_list->add_flag("--json", json, "JSON output");
  auto* client_limit = client->add_subcommand(
      "rate-limit", "Apply a public instance's per-client limit to its tun device now");
  client_limit->add_option("-c,--config", config_file, "Config file (JSON)")->required();
  client_limit->add_option("-i,--instance", instance, "Instance")->required();
  client_limit->add_flag("--clear", clear, "Remove the limit instead");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : cli::kExitUsage;
  }

  if (*check) return cli::runCheck(config_file, std::cout, std::cerr);
  if (*render) {
    return cli::runRender(config_file, out_dir, meshbroker::supervisor::hookProgram(selfBinary()),
                          std::cout, std::cerr);
  }
  if (*keygen) return cli::runKeygen(config_file, std::cout, std::cerr);
  if (*status) return cli::runStatus(config_file, status_json, std::cout, std::cerr);
  if (*routes) return cli::runRoutes(config_file, routes_json, std::cout, std::cerr);
  if (*drain) return cli::runDrain(config_file, gateway, true, std::cout, std::cerr);
  if (*undrain) return cli::runDrain(config_file, gateway, false, std::cout, std::cerr);
  if (*handover) {
    return cli::runHandover(
        config_file,
        if_restarting.empty() ? std::nullopt : std::optional<std::string>(if_restarting), std::cout,
        std::cerr);
  }
  if (*run) return cli::runDaemon(config_file, selfBinary(), std::cerr);
  if (*notify) return cli::runNotify(event, runtime_dir, std::cerr);
  if (*net_init) return cli::runNetworkInit(key_file, std::cout, std::cerr);
  if (*net_key) return cli::runNetworkKey(key_file, std::cout, std::cerr);
  if (*net_show) return cli::runNetworkShow(config_file, std::cout, std::cerr);
  if (*node_remove) return cli::runNodeRemove(config_file, node_name, std::cout, std::cerr);
  if (*invite) {
    if (invite_list) return cli::runInviteList(config_file, std::cout, std::cerr);
    if (!invite_revoke.empty()) {
      return cli::runInviteRevoke(config_file, invite_revoke, std::cout, std::cerr);
    }
    if (invite_options.name.empty()) {
      std::cerr << "invite: name the new node (or --list, --revoke ID)\n";
      return cli::kExitUsage;
    }
    return cli::runInvite(config_file, invite_options, std::cout, std::cerr);
  }
  if (*join) return cli::runJoin(join_options, std::cout, std::cerr);
  if (*client_init) return cli::runClientInit(config_file, std::cout, std::cerr);
  if (*client_add) {
    return cli::runClientAdd(config_file, client_name, instance, profile_out, std::cout, std::cerr);
  }
  if (*client_shared) {
    return cli::runClientShared(config_file, instance, profile_out, std::cout, std::cerr);
  }
  if (*client_revoke) return cli::runClientRevoke(config_file, client_name, std::cout, std::cerr);
  if (*client_list) return cli::runClientList(config_file, json, std::cout, std::cerr);
  if (*client_limit) {
    return cli::runClientRateLimit(config_file, instance, clear, std::cout, std::cerr);
  }
  return cli::kExitUsage;
}
