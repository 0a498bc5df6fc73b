// A grammar check of rendered files: every line is one the file's kind allows, so no config
// value can have added a directive, a command or a line. Used by the fuzzer and the tests.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "templates/renderer.hpp"

namespace meshbroker::templates {

enum class RenderedKind {
  kTincConf,       // tinc/tinc.conf
  kTincHost,       // tinc/hosts/<name>
  kTincScript,     // tinc/tinc-up, tinc-down, host-up, host-down
  kOpenVpnServer,  // openvpn/<instance>.conf
  kOpenVpnClient,  // a client profile (.ovpn), never a file of renderNode
};

// The kind of a path renderNode produces; nullopt for a path it never makes (a name with '/',
// "..", an absolute path, a file outside tinc/ and openvpn/).
std::optional<RenderedKind> renderedKindOf(const std::filesystem::path& path);

// Checks text against its kind's grammar: only '\n' as a control character, a final '\n',
// and every line empty, a comment or a known directive (tinc, OpenVPN) or command (the hook
// scripts) with arguments of a safe character set; directives that must appear once do.
// Returns "line N: WHY" for the first line that breaks it, nullopt when all is well.
std::optional<std::string> checkRenderedText(RenderedKind kind, std::string_view text);

// renderedKindOf(file.path), its mode (scripts 0755, the rest 0644) and checkRenderedText.
std::optional<std::string> checkRenderedFile(const RenderedFile& file);

}  // namespace meshbroker::templates
