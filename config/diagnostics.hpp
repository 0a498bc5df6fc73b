// Problems found in a config, each naming the JSON path and the offending value.
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace meshbroker::config {

struct Diagnostic {
  enum class Severity { kError, kWarning };
  Severity severity = Severity::kError;
  std::string path;   // JSON pointer, e.g. "/routes/0/to/0"
  std::string value;  // the offending value as JSON (escaped, shortened), or empty
  std::string message;

  // "PATH: VALUE MESSAGE" (the caller prefixes the file name).
  std::string str() const;
};

class Diagnostics {
 public:
  void error(std::string path, std::string value, std::string message);
  void warning(std::string path, std::string value, std::string message);

  bool hasErrors() const;
  // Each problem's path and message through `path` and `message` (a UCI config's option
  // names instead of JSON pointers).
  using Rewrite = std::function<std::string(const std::string&)>;
  void rewrite(const Rewrite& path, const Rewrite& message);
  const std::vector<Diagnostic>& all() const { return items_; }

 private:
  std::vector<Diagnostic> items_;
};

// A JSON value shown in a message: JSON-escaped (so control characters print as \n, \u0000)
// and shortened to keep one problem on one line.
std::string showValue(const std::string& json_text);

}  // namespace meshbroker::config
