// Least privilege at start: creates the runtime folder (owner and group only), resolves tincd's and
// openvpn's users, gives tincd's group a way into the runtime folder (to its event socket), picks
// the binary tinc's hooks run, and checks that tincd can still read its config after it drops root.
// Throws std::runtime_error with the fix when it cannot be done.
#pragma once

#include <filesystem>
#include <optional>

#include "backends/privileges.hpp"
#include "config/model.hpp"

namespace meshbroker::supervisor {

struct Privileges {
  std::optional<backends::SystemUser> tinc_user;  // none: tincd keeps root
  std::filesystem::path hook_binary;              // what tinc's hooks run (`notify`)
};

// Before rendering; creates the runtime folder first. meshbroker_binary: this program.
Privileges preparePrivileges(const config::NodeConfig& config,
                             const std::filesystem::path& meshbroker_binary);

// After rendering: tinc reads its host files (on each connection, on SIGHUP) as tinc_user.
void checkTincCanRead(const config::NodeConfig& config, const backends::SystemUser& tinc_user);

}  // namespace meshbroker::supervisor
