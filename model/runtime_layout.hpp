// Where everything meshbroker keeps while it runs lives, in one place: the daemon, the CLI, the
// renderer and the hooks name these files only through here (PkiLayout does the same for the
// OpenVPN PKI).
#pragma once

#include <filesystem>
#include <string>

namespace meshbroker::model {

struct RuntimeLayout {
  std::filesystem::path dir;  // paths.runtime_dir (/run/meshbroker under systemd)

  // The daemon's control socket: one JSON request, one reply (root only).
  std::filesystem::path controlSocket() const { return dir / "control.sock"; }
  // Datagrams from tinc's hooks (`meshbroker notify`).
  std::filesystem::path tincEvents() const { return dir / "tinc-events.sock"; }
  // The status document, rewritten on every change (0640).
  std::filesystem::path statusFile() const { return dir / "status.json"; }
  // tincd's own pid file (--pidfile).
  std::filesystem::path tincPidFile() const { return dir / "tinc.pid"; }
  // Survivors' pid and log files, one pair per backend id ("tinc", "openvpn-public").
  std::filesystem::path backendsDir() const { return dir / "backends"; }
  std::filesystem::path backendPidFile(const std::string& id) const {
    return backendsDir() / (id + ".pid");
  }
  std::filesystem::path backendLogFile(const std::string& id) const {
    return backendsDir() / (id + ".log");
  }
  // An OpenVPN instance's management socket.
  std::filesystem::path openVpnManagement(const std::string& instance) const {
    return dir / ("openvpn-" + instance + ".sock");
  }
  // Where the binary tinc's hooks run is copied when tincd's user cannot reach the installed one.
  std::filesystem::path hookBinaryDir() const { return dir / "bin"; }
};

// What meshbroker keeps across restarts in paths.state_dir, besides the rendered files and the
// OpenVPN PKI (PkiLayout).
struct StateLayout {
  std::filesystem::path dir;  // paths.state_dir (/var/lib/meshbroker)

  std::filesystem::path networkDir() const { return dir / "network"; }
  // The last good signed network document (its envelope, as signed), replaced atomically.
  std::filesystem::path networkDocument() const { return networkDir() / "document.json"; }
  // The registry's own record (joined and removed nodes, invitations), 0600.
  std::filesystem::path registryState() const { return networkDir() / "registry.json"; }
  // Each OpenVPN user's figures (supervisor/usage_keeper), 0600, rewritten at most every 5 s.
  std::filesystem::path openvpnUsage() const { return dir / "openvpn-usage.json"; }
  // A private instance's client-config-dir (rendered when it has a quota): a file per common
  // name over the quota, holding "disable" (supervisor/quota_keeper).
  std::filesystem::path openvpnCcd(const std::string& instance) const {
    return dir / "openvpn-ccd" / instance;
  }
};

}  // namespace meshbroker::model
