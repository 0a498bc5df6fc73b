// The render folder: see render_folder.hpp.
#include "supervisor/render_folder.hpp"

#include <sys/stat.h>

#include <fstream>
#include <set>
#include <sstream>

#include "io/file_writer.hpp"
#include "io/log.hpp"

namespace meshbroker::supervisor {

using io::Level;
using io::log;

namespace fs = std::filesystem;

std::vector<model::RenderedFile> renderedOnDisk(const fs::path& render_dir,
                                                const std::vector<model::RenderedFile>& expected) {
  std::vector<model::RenderedFile> files;
  std::set<fs::path> seen;
  auto add = [&](const fs::path& relative) {
    if (!seen.insert(relative).second) return;
    auto path = render_dir / relative;
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return;
    std::ifstream in(path, std::ios::binary);
    std::ostringstream content;
    content << in.rdbuf();
    files.push_back({relative, content.str(), static_cast<unsigned>(st.st_mode & 07777)});
  };
  for (const auto& file : expected) add(file.path);
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(render_dir / "tinc" / "hosts", ec)) {
    add(fs::path("tinc") / "hosts" / entry.path().filename());
  }
  return files;
}

void writeRendered(const fs::path& render_dir, const std::vector<model::RenderedFile>& files,
                   const std::vector<model::RenderedFile>* previous) {
  auto report = io::writeFiles(render_dir, files);
  for (const auto& path : report.changed) log(Level::kInfo, "rendered " + path.string());
  // Files the new config no longer makes (a removed host) must go, or tincd keeps using them.
  std::set<fs::path> wanted;
  for (const auto& file : files) wanted.insert(file.path);
  if (previous) {
    for (const auto& file : *previous) {
      if (!wanted.contains(file.path)) {
        std::error_code ec;
        fs::remove(render_dir / file.path, ec);
        log(Level::kInfo, "removed " + file.path.string());
      }
    }
    return;
  }
  std::error_code ec;
  // Scripts earlier versions rendered: tincd would still run them for every subnet event.
  for (const char* obsolete : {"subnet-up", "subnet-down"}) {
    if (fs::remove(render_dir / "tinc" / obsolete, ec)) {
      log(Level::kInfo, std::string("removed obsolete tinc/") + obsolete);
    }
  }
  for (const auto& entry : fs::directory_iterator(render_dir / "tinc" / "hosts", ec)) {
    auto relative = fs::path("tinc") / "hosts" / entry.path().filename();
    if (entry.is_regular_file() && !wanted.contains(relative)) {
      std::error_code rm;
      fs::remove(entry.path(), rm);
      log(Level::kInfo, "removed stale " + relative.string());
    }
  }
}

}  // namespace meshbroker::supervisor
