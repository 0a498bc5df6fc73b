// Atomic file writing with POSIX calls (open O_EXCL, fsync, rename).
#include "io/file_writer.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "io/unique_fd.hpp"

namespace meshbroker::io {
namespace {

namespace fs = std::filesystem;

std::string errnoText(const std::string& what, const fs::path& path) {
  return what + " " + path.string() + ": " + std::strerror(errno);
}

// Writes content to a new temp file next to path and returns its name.
fs::path stage(const fs::path& path, const std::string& content, unsigned mode) {
  fs::path temp = path;
  temp += ".meshbroker-tmp-" + std::to_string(::getpid());
  UniqueFd fd(::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd) throw WriteError(errnoText("cannot create", temp));
  std::size_t done = 0;
  while (done < content.size()) {
    ssize_t n = ::write(fd.get(), content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      std::string message = errnoText("cannot write", temp);
      ::unlink(temp.c_str());
      throw WriteError(message);
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fchmod(fd.get(), static_cast<mode_t>(mode)) != 0 || ::fsync(fd.get()) != 0) {
    std::string message = errnoText("cannot finish", temp);
    ::unlink(temp.c_str());
    throw WriteError(message);
  }
  return temp;
}

bool sameAsOnDisk(const fs::path& path, const std::string& content, unsigned mode) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return false;
  if ((st.st_mode & 07777) != mode || static_cast<std::size_t>(st.st_size) != content.size()) {
    return false;
  }
  std::ifstream in(path, std::ios::binary);
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return buffer.str() == content;
}

void syncDirectory(const fs::path& dir) {
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd) ::fsync(fd.get());
}

}  // namespace

void writeFileAtomically(const fs::path& path, const std::string& content, unsigned mode,
                         bool exclusive) {
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  if (ec)
    throw WriteError("cannot create folder " + path.parent_path().string() + ": " + ec.message());
  fs::path temp = stage(path, content, mode);
  // link() fails if the target exists, which gives "create only if missing" atomically.
  int rc = exclusive ? ::link(temp.c_str(), path.c_str()) : ::rename(temp.c_str(), path.c_str());
  if (rc != 0) {
    std::string message = errnoText(exclusive ? "cannot create" : "cannot replace", path);
    ::unlink(temp.c_str());
    throw WriteError(message);
  }
  if (exclusive) ::unlink(temp.c_str());
  syncDirectory(path.parent_path());
}

WriteReport writeFiles(const fs::path& root, const std::vector<model::RenderedFile>& files) {
  WriteReport report;
  std::vector<std::pair<fs::path, fs::path>> staged;  // temp -> final
  auto discard = [&staged] {
    for (const auto& [temp, target] : staged) ::unlink(temp.c_str());
  };
  try {
    for (const auto& file : files) {
      if (file.path.is_absolute() || file.path.lexically_normal().string().starts_with("..")) {
        throw WriteError("refusing to write outside " + root.string() + ": " + file.path.string());
      }
      fs::path target = root / file.path;
      if (sameAsOnDisk(target, file.content, file.mode)) {
        report.unchanged.push_back(file.path);
        continue;
      }
      std::error_code ec;
      fs::create_directories(target.parent_path(), ec);
      if (ec) {
        throw WriteError("cannot create folder " + target.parent_path().string() + ": " +
                         ec.message());
      }
      staged.emplace_back(stage(target, file.content, file.mode), target);
      report.changed.push_back(file.path);
    }
  } catch (...) {
    discard();
    throw;
  }
  for (const auto& [temp, target] : staged) {
    if (::rename(temp.c_str(), target.c_str()) != 0) {
      std::string message = errnoText("cannot replace", target);
      discard();
      throw WriteError(message);
    }
  }
  for (const auto& [temp, target] : staged) syncDirectory(target.parent_path());
  return report;
}

}  // namespace meshbroker::io
