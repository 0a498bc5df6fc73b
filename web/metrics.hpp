// /metrics: the status document in Prometheus text exposition format 0.0.4. Pure.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace meshbroker::web {

// status: web::document(..., Document::kStatus).
std::string renderMetrics(const nlohmann::json& status);

// A label value with \, " and newlines escaped as the text format wants.
std::string escapeLabel(std::string_view value);

}  // namespace meshbroker::web
