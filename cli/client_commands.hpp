// The `meshbroker client ...` verbs: OpenVPN PKI, client profiles, revocation, listing, limits.
#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <ostream>
#include <string>

namespace meshbroker::cli {

// client init -c FILE: makes what is missing in the PKI (CA, each local instance's server
// certificate, tls-crypt key, client CA and trust file) and rewrites the CRL files. Run before
// starting openvpn; on an existing PKI it migrates it to a client CA per instance.
int runClientInit(const std::filesystem::path& config_file, std::ostream& out, std::ostream& err);

// client add NAME [--instance X] [-o FILE]: issues a certificate and prints (or writes, 0600)
// an inline .ovpn profile listing every server that offers the instance. The default instance
// is this node's first private one.
int runClientAdd(const std::filesystem::path& config_file, const std::string& name,
                 const std::string& instance, const std::filesystem::path& output,
                 std::ostream& out, std::ostream& err);

// client shared [--instance X] [-o FILE]: the public instance's shared profile (issued once).
int runClientShared(const std::filesystem::path& config_file, const std::string& instance,
                    const std::filesystem::path& output, std::ostream& out, std::ostream& err);

// client revoke NAME: revokes, rewrites the CRL files (also when NAME was revoked before: a
// retry finishes a half-done revocation), and drops a connected client through every local
// instance's management socket that exists.
int runClientRevoke(const std::filesystem::path& config_file, const std::string& name,
                    std::ostream& out, std::ostream& err);

// client list [--json]: issued and revoked certificates, and connected clients per instance
// (from the management socket, else the status file).
int runClientList(const std::filesystem::path& config_file, bool json, std::ostream& out,
                  std::ostream& err);

// client rate-limit --instance X [--clear]: applies (or removes) the instance's per-client
// limit on its tun device now. The daemon does this itself when the device comes up.
int runClientRateLimit(const std::filesystem::path& config_file, const std::string& instance,
                       bool clear, std::ostream& out, std::ostream& err);

// Sends one command to an OpenVPN management socket and returns the reply: lines up to "END"
// for multi-line replies (status), else the first SUCCESS:/ERROR: line. nullopt with *error
// set when the socket cannot be used within timeout.
std::optional<std::string> managementCommand(const std::filesystem::path& socket,
                                             const std::string& command, bool multi_line,
                                             std::chrono::milliseconds timeout, std::string* error);

}  // namespace meshbroker::cli
