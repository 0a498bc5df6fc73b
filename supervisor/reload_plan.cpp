// Reload planning: which changes tincd takes with SIGHUP, which need a restart.
#include "supervisor/reload_plan.hpp"

#include <algorithm>
#include <set>
#include <sstream>

namespace meshbroker::supervisor {
namespace {

using templates::RenderedFile;

// `text` without the lines `drop` says to drop.
template <class Drop>
std::string withoutLines(const std::string& text, Drop drop) {
  std::istringstream in(text);
  std::string out, line;
  while (std::getline(in, line)) {
    if (!drop(line)) out += line + "\n";
  }
  return out;
}

// tinc.conf without its ConnectTo lines: tincd re-reads ConnectTo on SIGHUP, nothing else.
std::string withoutConnectTo(const std::string& conf) {
  return withoutLines(conf, [](const std::string& line) { return line.starts_with("ConnectTo"); });
}

// tinc-up without the lines that follow the list of hosts: permanent neighbours and routes back
// to servers' clients. The daemon applies those itself after a reload (meshNeighbours, the
// route policy), so a node joining or leaving the network restarts no tincd. Nor its last line,
// the notify that ran when tincd started: which program it names (meshbroker-notify since it
// exists, a copy in the runtime folder) changes nothing for the running tincd.
std::string withoutHostLines(const std::string& script) {
  return withoutLines(script, [](const std::string& line) {
    return line.starts_with("ip neigh replace ") || line.starts_with("ip -6 neigh replace ") ||
           line.starts_with("ip route replace ") || line.starts_with("ip -6 route replace ") ||
           line.ends_with(" tinc-up || true");
  });
}

// How tinc takes a change to one of its files.
ReloadAction tincFileChange(const std::string& name, const RenderedFile* before,
                            const RenderedFile* after) {
  if (name.starts_with("hosts/")) return ReloadAction::kSignal;
  if (name == "tinc.conf") {
    if (before && after && withoutConnectTo(before->content) == withoutConnectTo(after->content)) {
      return ReloadAction::kSignal;
    }
    return ReloadAction::kRestart;
  }
  // Hooks other than tinc-up are read each time they run; tinc-up only at start.
  if (name == "tinc-up") {
    if (before && after && withoutHostLines(before->content) == withoutHostLines(after->content)) {
      return ReloadAction::kNone;
    }
    return ReloadAction::kRestart;
  }
  return ReloadAction::kNone;
}

ReloadAction stronger(ReloadAction a, ReloadAction b) { return std::max(a, b); }

}  // namespace

std::string_view toString(ReloadAction action) {
  switch (action) {
    case ReloadAction::kNone:
      return "none";
    case ReloadAction::kSignal:
      return "signal";
    case ReloadAction::kRestart:
      return "restart";
    case ReloadAction::kStart:
      return "start";
    case ReloadAction::kStop:
      return "stop";
  }
  return "none";
}

std::string backendOfFile(const std::filesystem::path& path) {
  auto it = path.begin();
  if (it == path.end()) return "";
  std::string top = it->string();
  if (top == "tinc") return "tinc";
  if (top == "openvpn" && ++it != path.end()) {
    std::filesystem::path rest = *it;
    std::string instance = rest.extension() == ".conf" ? rest.stem().string() : rest.string();
    return "openvpn-" + instance;
  }
  return "";
}

std::map<std::string, ReloadAction> planReload(const std::vector<RenderedFile>& before,
                                               const std::vector<RenderedFile>& after,
                                               const std::vector<std::string>& backends_before,
                                               const std::vector<std::string>& backends_after) {
  std::map<std::string, ReloadAction> plan;
  std::set<std::string> old_set(backends_before.begin(), backends_before.end());
  std::set<std::string> new_set(backends_after.begin(), backends_after.end());
  for (const auto& id : old_set)
    plan[id] = new_set.contains(id) ? ReloadAction::kNone : ReloadAction::kStop;
  for (const auto& id : new_set) {
    if (!old_set.contains(id)) plan[id] = ReloadAction::kStart;
  }

  std::map<std::filesystem::path, const RenderedFile*> old_files, new_files;
  for (const auto& file : before) old_files[file.path] = &file;
  for (const auto& file : after) new_files[file.path] = &file;
  std::set<std::filesystem::path> paths;
  for (const auto& [path, file] : old_files) paths.insert(path);
  for (const auto& [path, file] : new_files) paths.insert(path);

  for (const auto& path : paths) {
    auto o = old_files.find(path);
    auto n = new_files.find(path);
    const RenderedFile* old_file = o == old_files.end() ? nullptr : o->second;
    const RenderedFile* new_file = n == new_files.end() ? nullptr : n->second;
    if (old_file && new_file && *old_file == *new_file) continue;
    std::string id = backendOfFile(path);
    auto entry = plan.find(id);
    if (id.empty() || entry == plan.end()) continue;
    if (entry->second == ReloadAction::kStart || entry->second == ReloadAction::kStop) continue;
    ReloadAction needed = ReloadAction::kRestart;
    if (id == "tinc") {
      needed = tincFileChange(path.lexically_relative("tinc").string(), old_file, new_file);
    }
    entry->second = stronger(entry->second, needed);
  }
  return plan;
}

}  // namespace meshbroker::supervisor
