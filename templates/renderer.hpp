// Rendering: a pure function from a node's config to the text of every file it needs.
#pragma once

#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "config/model.hpp"

namespace meshbroker::templates {

struct RenderedFile {
  std::filesystem::path path;  // relative to the render root, e.g. "tinc/tinc.conf"
  std::string content;
  unsigned mode = 0644;  // scripts 0755
  bool operator==(const RenderedFile&) const = default;
};

struct RenderOptions {
  // The meshbroker binary the tinc hooks call to notify the daemon.
  std::filesystem::path meshbroker_binary = "/usr/bin/meshbroker";
};

// Thrown when a value would change the structure of a rendered file (a control character
// reached the renderer) or a template is broken. Validation rejects such values first; this is
// the second line of defence.
class RenderError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Every file of the node, sorted by path. Throws RenderError.
std::vector<RenderedFile> renderNode(const config::NodeConfig& node, const RenderOptions& options);

// Quotes text for a POSIX shell: 'text' with every ' written as '\''.
std::string shellQuote(std::string_view text);

}  // namespace meshbroker::templates
