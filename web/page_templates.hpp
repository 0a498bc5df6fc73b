// The status page's mustache templates, compiled into the binary (generated from
// web/page/*.mustache by cmake/Embed.cmake).
#pragma once

#include <map>
#include <string>

namespace meshbroker::web {

// Template text by file name, e.g. "live.html.mustache".
const std::map<std::string, std::string, std::less<>>& pageTemplates();

}  // namespace meshbroker::web
