// The system users tincd and openvpn drop root to, and whether such a user can reach a file.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace meshbroker::backends {

struct SystemUser {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;              // primary group
  std::vector<gid_t> groups;  // every group it is in (primary included)
};

// The user from /etc/passwd and /etc/group read directly (findSystemUserInFiles); when they
// do not have it, from the passwd database (getpwnam_r, getgrouplist: LDAP and the like).
// Files first: NSS would load its plugins into the daemon for good (RSS), and a static binary
// on a router has none (docs/routers.md). nullopt when there is none.
std::optional<SystemUser> findSystemUser(const std::string& name);

// The user as a passwd file and a group file in their usual format say (no NSS); nullopt when
// the passwd file has no such user or cannot be read. Lines that do not parse are skipped.
std::optional<SystemUser> findSystemUserInFiles(const std::string& name,
                                                const std::filesystem::path& passwd_file,
                                                const std::filesystem::path& group_file);

// One path's owner and mode, as stat() gives them.
struct FileMode {
  uid_t uid = 0;
  gid_t gid = 0;
  unsigned mode = 0;  // permission bits (07777)
};

// Whether `user` has every bit of `want` (4 read, 2 write, 1 execute/search) on a file with
// this owner and mode, as the kernel decides it for a process without capabilities. Pure.
bool permits(const FileMode& file, const SystemUser& user, unsigned want);

// kSearch: a folder it may enter (x); kRead: a file it may read; kExecute: a program it may
// run, or a folder it may list and enter (r and x).
enum class Access { kSearch, kRead, kExecute };

// Why `user` cannot reach `path`: each folder above it must be searchable by the user and the
// path itself readable (kRead) or readable and executable (kExecute); symlinks are followed as
// the kernel would. "" when it can. Root (uid 0) always can.
std::string whyUnreachable(const std::filesystem::path& path, const SystemUser& user, Access want);

}  // namespace meshbroker::backends
