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
  std::filesystem::path
      hook_binary;  // what tinc's hooks run: meshbroker-notify beside it, else itself
};

// What tinc's hooks run (`... notify EVENT`): meshbroker-notify when it sits beside
// meshbroker_binary (the .deb, a build folder), as it starts in well under a millisecond and
// tincd 1.0 forwards nothing while a hook runs; else meshbroker_binary itself (the static router
// builds).
std::filesystem::path hookProgram(const std::filesystem::path& meshbroker_binary);

// Before rendering; creates the runtime folder first. meshbroker_binary: this program.
Privileges preparePrivileges(const config::NodeConfig& config,
                             const std::filesystem::path& meshbroker_binary);

// After rendering: tinc reads its host files (on each connection, on SIGHUP) as tinc_user.
void checkTincCanRead(const config::NodeConfig& config, const backends::SystemUser& tinc_user);

}  // namespace meshbroker::supervisor
