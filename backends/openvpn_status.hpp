// Parses OpenVPN management-interface output ("status 3", command replies): pure, line based,
// garbage-tolerant. Every line that cannot be used is reported with its number and skipped.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model/openvpn_client.hpp"

namespace meshbroker::backends {

// One connected client from a CLIENT_LIST line.
using ConnectedClient = model::ConnectedClient;

struct StatusProblem {
  std::size_t line = 0;  // 1-based
  std::string text;      // the line, escaped and shortened for a message
  std::string why;
  std::string str() const;  // "line N: \"TEXT\": WHY"
};

struct StatusReport {
  std::vector<ConnectedClient> clients;
  std::vector<StatusProblem> problems;
  bool complete = false;  // saw the closing END line
};

// Feed it one line at a time (without the line end; a trailing '\r' is tolerated), for
// example straight from the management socket. Unknown but well-formed record types
// (ROUTING_TABLE, GLOBAL_STATS, TITLE, TIME, real-time ">..." notifications) are skipped
// quietly; malformed lines become problems.
class StatusParser {
 public:
  void feed(std::string_view line);
  bool done() const { return report_.complete; }
  const StatusReport& report() const { return report_; }

 private:
  void clientList(const std::vector<std::string_view>& fields, std::string_view line);
  void problem(std::string_view line, std::string why);

  StatusReport report_;
  std::size_t line_number_ = 0;
  // Column positions from the "HEADER CLIENT_LIST ..." line (OpenVPN 2.4..2.6 differ).
  std::vector<std::string> columns_;
};

// The whole text of a "status 3" reply (lines split on '\n').
StatusReport parseStatus(std::string_view text);

// A one-line command reply: "SUCCESS: ..." (true) or "ERROR: ..." (false); the message after
// the colon goes to message. nullopt when the line is neither.
std::optional<bool> parseCommandReply(std::string_view line, std::string* message);

// Makes text safe to print on one line: control and non-ASCII bytes as \xNN, at most max chars.
std::string escapeForMessage(std::string_view text, std::size_t max = 120);

}  // namespace meshbroker::backends
