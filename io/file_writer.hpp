// Writes rendered file sets to disk: temp file + fsync + rename, right modes, only what changed.
#pragma once

#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "model/rendered_file.hpp"

namespace meshbroker::io {

class WriteError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct WriteReport {
  std::vector<std::filesystem::path> changed;    // written (new or different)
  std::vector<std::filesystem::path> unchanged;  // same content and mode: left alone
};

// Writes every file under root. All new contents are staged as temp files first; only when
// every one is written and synced are they renamed into place, so a failure (disk full,
// permission) leaves every old file as it was. Throws WriteError naming the file.
WriteReport writeFiles(const std::filesystem::path& root,
                       const std::vector<model::RenderedFile>& files);

// Writes one file atomically with the given mode. With exclusive, fails if it already exists.
void writeFileAtomically(const std::filesystem::path& path, const std::string& content,
                         unsigned mode, bool exclusive = false);

}  // namespace meshbroker::io
