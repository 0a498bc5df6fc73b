// What a reload must do to each backend, from the files that run now and the files the new
// config renders. Pure: unchanged files, unchanged backends, unchanged PIDs.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "templates/renderer.hpp"

namespace meshbroker::supervisor {

enum class ReloadAction {
  kNone,     // nothing it reads changed
  kSignal,   // SIGHUP applies the change in place (tinc: hosts/*, ConnectTo)
  kRestart,  // it needs a new process
  kStart,    // a new backend
  kStop,     // a backend the new config no longer has
};

std::string_view toString(ReloadAction action);

// Backend ids: "tinc", and "openvpn-<instance>" for openvpn/<instance>.conf (plus anything in
// openvpn/<instance>/). Other files belong to no backend.
std::string backendOfFile(const std::filesystem::path& path);

// One entry per backend present before or after. `backends_before`/`after` name the backends
// each config runs (a backend with no files still counts).
std::map<std::string, ReloadAction> planReload(const std::vector<templates::RenderedFile>& before,
                                               const std::vector<templates::RenderedFile>& after,
                                               const std::vector<std::string>& backends_before,
                                               const std::vector<std::string>& backends_after);

}  // namespace meshbroker::supervisor
