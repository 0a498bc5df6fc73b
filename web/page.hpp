// The status page for a person: one self-contained HTML document (no external assets) with a
// picture of the topology, the tables behind it and the recent events. Pure: the status
// document in, HTML out, through the mustache templates in web/page/ (every value escaped). Without
// JavaScript it is plain tables that a meta refresh reloads; with it, the live part is re-fetched
// from /live every two seconds, with the bearer token the operator typed into the footer (kept in
// the tab's sessionStorage), so the public view (no token) becomes the full one.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace meshbroker::web {

std::string renderPage(const nlohmann::json& status);
// The live part alone (what /live serves and the page's script swaps in).
std::string renderLive(const nlohmann::json& status);
// The topology picture (SVG), part of renderLive.
std::string renderTopology(const nlohmann::json& status);

std::string escapeHtml(std::string_view text);

}  // namespace meshbroker::web
