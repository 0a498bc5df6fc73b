// Least privilege at start: see privilege_setup.hpp.
#include "supervisor/privilege_setup.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "io/log.hpp"
#include "model/runtime_layout.hpp"

namespace meshbroker::supervisor {

using io::Level;
using io::log;

namespace fs = std::filesystem;

namespace {

backends::SystemUser systemUser(const std::string& key, const std::string& name) {
  auto found = backends::findSystemUser(name);
  if (!found) {
    throw std::runtime_error(
        "supervisor." + key + ": there is no system user \"" + name +
        "\". The Debian package creates it; by hand: useradd --system --user-group "
        "--no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin " +
        name + " (or set \"" + key + "\": \"root\" to keep root, which is not recommended)");
  }
  return *found;
}

// tinc's hooks run as `user` and must run meshbroker. A binary it cannot reach (a build under
// /root) is copied into the runtime folder for the hooks.
fs::path hookBinaryFor(const config::NodeConfig& config, const fs::path& binary,
                       const backends::SystemUser& user) {
  if (binary.empty() ||
      backends::whyUnreachable(binary, user, backends::Access::kExecute).empty()) {
    return binary;
  }
  const auto folder = model::RuntimeLayout{config.paths.runtime_dir}.hookBinaryDir();
  const auto copy = folder / binary.filename();
  const auto temp = folder / (binary.filename().string() + ".new");
  std::error_code ec;
  fs::create_directories(folder, ec);
  if (!ec) fs::permissions(folder, fs::perms(0755), ec);
  if (!ec) fs::copy_file(binary, temp, fs::copy_options::overwrite_existing, ec);
  if (!ec) fs::permissions(temp, fs::perms(0755), ec);
  if (!ec) fs::rename(temp, copy, ec);
  if (ec) {
    throw std::runtime_error("tinc's hooks run as " + user.name + ", which cannot run " +
                             binary.string() + ", and copying it to " + copy.string() +
                             " failed: " + ec.message());
  }
  log(Level::kNotice,
      "tinc's hooks run " + copy.string() + ": " + user.name + " cannot run " + binary.string());
  return copy;
}

}  // namespace

fs::path hookProgram(const fs::path& meshbroker_binary) {
  if (meshbroker_binary.empty()) return meshbroker_binary;
  const auto helper = meshbroker_binary.parent_path() / "meshbroker-notify";
  if (::access(helper.c_str(), X_OK) == 0) return helper;
  return meshbroker_binary;
}

Privileges preparePrivileges(const config::NodeConfig& config, const fs::path& meshbroker_binary) {
  std::error_code ec;
  // Created here (not by systemd's RuntimeDirectory=): owner and group only.
  if (fs::create_directories(config.paths.runtime_dir, ec)) {
    fs::permissions(config.paths.runtime_dir,
                    fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec, ec);
  }
  if (ec) {
    throw std::runtime_error("cannot create runtime folder " + config.paths.runtime_dir.string() +
                             ": " + ec.message());
  }
  const auto& s = config.supervisor;
  Privileges out;
  out.hook_binary = hookProgram(meshbroker_binary);
  if (s.tinc_user == "root") {
    log(Level::kWarning, "tincd keeps root (supervisor.tinc_user is \"root\")");
  } else {
    out.tinc_user = systemUser("tinc_user", s.tinc_user);
    // Its hooks must reach the event socket: the runtime folder lets its group in (search
    // only: it cannot list it, and status.json and the logs are not its group's).
    const auto& runtime_dir = config.paths.runtime_dir;
    if (::chown(runtime_dir.c_str(), static_cast<uid_t>(-1), out.tinc_user->gid) != 0 ||
        ::chmod(runtime_dir.c_str(), 0710) != 0) {
      throw std::runtime_error("cannot give " + out.tinc_user->name + "'s group a way into " +
                               runtime_dir.string() + ": " + std::strerror(errno));
    }
    auto why = backends::whyUnreachable(runtime_dir, *out.tinc_user, backends::Access::kSearch);
    if (!why.empty()) {
      throw std::runtime_error("tinc's hooks run as " + out.tinc_user->name +
                               " and must reach the event socket, but " + why);
    }
    out.hook_binary = hookBinaryFor(config, out.hook_binary, *out.tinc_user);
  }
  if (s.openvpn_user == "root") {
    if (!config.openvpn.empty()) {
      log(Level::kWarning, "openvpn keeps root (supervisor.openvpn_user is \"root\")");
    }
  } else if (!config.openvpn.empty()) {
    const auto user = systemUser("openvpn_user", s.openvpn_user);
    // openvpn reads a private instance's quota files (client-config-dir) at each connection,
    // after it dropped root: a folder it cannot enter would refuse nobody, silently.
    for (const auto& instance : config.openvpn) {
      if (!instance.quota || instance.kind != config::InstanceKind::kPrivate) continue;
      const auto ccd = model::StateLayout{config.paths.state_dir}.openvpnCcd(instance.name.str());
      std::error_code ignored;  // whyUnreachable says what is wrong
      std::filesystem::create_directories(ccd, ignored);
      std::filesystem::permissions(ccd.parent_path(), std::filesystem::perms(0755), ignored);
      std::filesystem::permissions(ccd, std::filesystem::perms(0755), ignored);
      auto why = backends::whyUnreachable(ccd, user, backends::Access::kExecute);
      if (!why.empty()) {
        throw std::runtime_error("openvpn runs as " + user.name +
                                 " (supervisor.openvpn_user) and must read the quota files of "
                                 "instance " +
                                 instance.name.str() + " after it drops root, but " + why);
      }
    }
  }
  return out;
}

void checkTincCanRead(const config::NodeConfig& config, const backends::SystemUser& tinc_user) {
  const auto tinc_dir = config.paths.render_dir / "tinc";
  for (const auto& [path, want] : {std::pair{tinc_dir / "hosts", backends::Access::kExecute},
                                   std::pair{tinc_dir / "tinc.conf", backends::Access::kRead}}) {
    auto why = backends::whyUnreachable(path, tinc_user, want);
    if (!why.empty()) {
      throw std::runtime_error("tincd runs as " + tinc_user.name + " (supervisor.tinc_user)" +
                               " and must read its config after it drops root, but " + why);
    }
  }
}

}  // namespace meshbroker::supervisor
