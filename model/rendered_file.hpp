// One file a node needs, as the renderer makes it and the writer puts it on disk.
#pragma once

#include <filesystem>
#include <string>

namespace meshbroker::model {

struct RenderedFile {
  std::filesystem::path path;  // relative to the render root, e.g. "tinc/tinc.conf"
  std::string content;
  unsigned mode = 0644;  // scripts 0755
  bool operator==(const RenderedFile&) const = default;
};

}  // namespace meshbroker::model
