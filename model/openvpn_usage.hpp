// What each OpenVPN user used (issue 21): bytes each way, connected time and sessions, all
// time and this month. supervisor/usage_ledger counts them; the snapshot carries them to the
// API, the page and the metrics (full view only: names and addresses are private).
#pragma once

#include <cstdint>
#include <string>

namespace meshbroker::model {

struct UsageCounters {
  std::uint64_t bytes_received = 0;  // from the user (their upload)
  std::uint64_t bytes_sent = 0;      // to the user (their download)
  std::int64_t connected_s = 0;
  std::uint64_t sessions = 0;
  bool operator==(const UsageCounters&) const = default;
};

struct UserUsage {
  std::string instance;
  // The certificate's common name; on an instance whose users share one certificate, the
  // connection's source address; "other" for users past the cardinality cap.
  std::string user;
  UsageCounters total;
  std::string month;  // "2026-12" (UTC): the month `this_month` counts
  UsageCounters this_month;
  std::int64_t last_seen_s = 0;  // time_t of the last poll that saw a session of the user
  bool connected = false;        // a session of the user was in the last poll
  bool operator==(const UserUsage&) const = default;
};

}  // namespace meshbroker::model
