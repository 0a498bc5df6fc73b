// The mustache templates, compiled into the binary (generated from templates/**/*.mustache).
#pragma once

#include <map>
#include <string>

namespace meshbroker::templates {

// Template text by relative name, e.g. "tinc/tinc.conf.mustache".
const std::map<std::string, std::string, std::less<>>& embeddedTemplates();

}  // namespace meshbroker::templates
