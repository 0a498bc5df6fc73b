#include "backends/privileges.hpp"

#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace meshbroker::backends {

namespace fs = std::filesystem;

std::optional<SystemUser> findSystemUserInFiles(const std::string& name,
                                                const fs::path& passwd_file,
                                                const fs::path& group_file) {
  std::vector<char> buffer(16384);
  std::optional<SystemUser> user;
  if (FILE* in = std::fopen(passwd_file.c_str(), "re")) {
    passwd entry{};
    passwd* found = nullptr;
    // fgetpwent_r stops at the end (ENOENT); a line too long for the buffer (ERANGE) ends the
    // search too rather than looping on it.
    while (::fgetpwent_r(in, &entry, buffer.data(), buffer.size(), &found) == 0) {
      if (found && name == found->pw_name) {
        user = SystemUser{found->pw_name, found->pw_uid, found->pw_gid, {found->pw_gid}};
        break;
      }
    }
    std::fclose(in);
  }
  if (!user) return std::nullopt;
  if (FILE* in = std::fopen(group_file.c_str(), "re")) {
    group entry{};
    group* found = nullptr;
    while (::fgetgrent_r(in, &entry, buffer.data(), buffer.size(), &found) == 0) {
      if (!found || found->gr_gid == user->gid) continue;
      for (char** member = found->gr_mem; member && *member; ++member) {
        if (name == *member) {
          user->groups.push_back(found->gr_gid);
          break;
        }
      }
    }
    std::fclose(in);
  }
  return user;
}

std::optional<SystemUser> findSystemUser(const std::string& name) {
  // The files first, as nsswitch.conf's usual "files" source does: asking NSS loads its
  // plugins into the daemon for good (libnss_systemd and libcap on Debian: 360 KB of RSS
  // measured, bench/memory), and a system user lives in /etc/passwd anyway.
  if (auto user = findSystemUserInFiles(name, "/etc/passwd", "/etc/group")) return user;
  passwd entry{};
  passwd* found = nullptr;
  std::vector<char> buffer(16384);
  if (::getpwnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found) != 0 || !found) {
    return std::nullopt;
  }
  SystemUser user{found->pw_name, found->pw_uid, found->pw_gid, {}};
  int count = 64;
  std::vector<gid_t> groups(static_cast<std::size_t>(count));
  if (::getgrouplist(user.name.c_str(), user.gid, groups.data(), &count) < 0) {
    groups.resize(static_cast<std::size_t>(count));  // count now holds the number needed
    if (::getgrouplist(user.name.c_str(), user.gid, groups.data(), &count) < 0) count = 0;
  }
  groups.resize(static_cast<std::size_t>(std::max(count, 0)));
  if (std::find(groups.begin(), groups.end(), user.gid) == groups.end()) {
    groups.push_back(user.gid);
  }
  user.groups = std::move(groups);
  return user;
}

bool permits(const FileMode& file, const SystemUser& user, unsigned want) {
  if (user.uid == 0) return true;
  unsigned granted;
  if (file.uid == user.uid) {
    granted = (file.mode >> 6) & 7u;
  } else if (std::find(user.groups.begin(), user.groups.end(), file.gid) != user.groups.end()) {
    granted = (file.mode >> 3) & 7u;
  } else {
    granted = file.mode & 7u;
  }
  return (granted & want) == want;
}

namespace {

std::optional<FileMode> modeOf(const fs::path& path, std::string* why) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    *why = path.string() + ": " + std::strerror(errno);
    return std::nullopt;
  }
  return FileMode{st.st_uid, st.st_gid, static_cast<unsigned>(st.st_mode & 07777)};
}

// " (mode 0700, owner uid 0 gid 0)": why a path refused someone, for the error message.
std::string describe(const FileMode& mode) {
  char text[8];
  std::snprintf(text, sizeof text, "%04o", mode.mode);
  return std::string(" (mode ") + text + ", owner uid " + std::to_string(mode.uid) + " gid " +
         std::to_string(mode.gid) + ")";
}

}  // namespace

std::string whyUnreachable(const fs::path& path, const SystemUser& user, Access want) {
  if (user.uid == 0) return "";
  std::error_code ec;
  fs::path resolved = fs::weakly_canonical(fs::absolute(path, ec), ec);
  if (ec) return path.string() + ": " + ec.message();
  std::string why;
  fs::path folder;
  for (auto part = resolved.begin(); part != resolved.end(); ++part) {
    folder /= *part;
    if (folder == resolved) break;
    auto mode = modeOf(folder, &why);
    if (!mode) return why;
    if (!permits(*mode, user, 1)) {
      return user.name + " cannot enter " + folder.string() + describe(*mode);
    }
  }
  auto mode = modeOf(resolved, &why);
  if (!mode) return why;
  const unsigned bits = want == Access::kExecute ? 5u : want == Access::kRead ? 4u : 1u;
  if (!permits(*mode, user, bits)) {
    return user.name + " cannot " +
           (want == Access::kExecute ? "run "
            : want == Access::kRead  ? "read "
                                     : "enter ") +
           resolved.string() + describe(*mode);
  }
  return "";
}

}  // namespace meshbroker::backends
