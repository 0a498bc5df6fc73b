// Collecting and formatting config problems.
#include "config/diagnostics.hpp"

namespace meshbroker::config {

std::string Diagnostic::str() const {
  std::string out = path.empty() ? std::string("/") : path;
  out += ": ";
  if (severity == Severity::kWarning) out += "warning: ";
  if (!value.empty()) out += value + " ";
  out += message;
  return out;
}

void Diagnostics::error(std::string path, std::string value, std::string message) {
  items_.push_back(
      {Diagnostic::Severity::kError, std::move(path), showValue(value), std::move(message)});
}

void Diagnostics::warning(std::string path, std::string value, std::string message) {
  items_.push_back(
      {Diagnostic::Severity::kWarning, std::move(path), showValue(value), std::move(message)});
}

void Diagnostics::rewrite(const Rewrite& path, const Rewrite& message) {
  for (auto& item : items_) {
    item.path = path(item.path);
    item.message = message(item.message);
  }
}

bool Diagnostics::hasErrors() const {
  for (const auto& item : items_) {
    if (item.severity == Diagnostic::Severity::kError) return true;
  }
  return false;
}

std::string showValue(const std::string& json_text) {
  constexpr std::size_t kMax = 80;
  if (json_text.size() <= kMax) return json_text;
  return json_text.substr(0, kMax) + "...(" + std::to_string(json_text.size()) + " chars)";
}

}  // namespace meshbroker::config
