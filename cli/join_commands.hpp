// `meshbroker invite ...` on the registry and `meshbroker join INVITATION` on a new node
// (issue 20, docs/network.md "Joining").
#pragma once

#include <filesystem>
#include <optional>
#include <ostream>
#include <string>

namespace meshbroker::cli {

struct InviteOptions {
  std::string name;
  std::string role = "gateway";
  std::optional<std::string> mesh_address;   // else the first free one
  std::optional<std::string> mesh_address6;  // dual stack: else the IPv4 one's host number
  std::string ttl = "24h";                   // s, m, h or d
  std::string address;                       // where joiners reach the registry (its public one)
};

// Asks the registry's daemon for an invitation and prints the line to hand over.
int runInvite(const std::filesystem::path& config_file, const InviteOptions& options,
              std::ostream& out, std::ostream& err);
int runInviteList(const std::filesystem::path& config_file, std::ostream& out, std::ostream& err);
int runInviteRevoke(const std::filesystem::path& config_file, const std::string& id_or_token,
                    std::ostream& out, std::ostream& err);

struct JoinOptions {
  std::string invitation;  // "mb1:HOST:PORT/TOKEN/FINGERPRINT" (a leading "meshbroker join" too)
  std::filesystem::path config_file = "/etc/meshbroker/meshbroker.json";
  std::filesystem::path state_dir = "/var/lib/meshbroker";
  std::filesystem::path runtime_dir = "/run/meshbroker";
  std::optional<std::string> public_address;  // a server's: where the others reach it
  int timeout_s = 15;
};

// Makes this node's tinc key here (kept if one exists), proves the invitation to the registry,
// checks the signed answer against the invitation's fingerprint, and writes the config and the
// network document. Nothing is written but the key when any step fails.
int runJoin(const JoinOptions& options, std::ostream& out, std::ostream& err);

}  // namespace meshbroker::cli
