// Per-user OpenVPN accounting (issue 21): pure. Each status poll of an instance adds what each
// session sent and received since the last poll, and the time it was connected, to its user;
// the ledger survives a reconnect (the user, not the session, holds the totals) and a daemon
// restart (toJson / fromJson keep the open sessions' last counters, so nothing is counted twice).
//
// Users past `max_users` (all instances together) count as "other" of their instance, so the
// metrics' label cardinality stays bounded. Bytes a session moved after its last poll and
// before it ended are not seen (at most one status interval's worth).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "model/openvpn_client.hpp"
#include "model/openvpn_usage.hpp"

namespace meshbroker::supervisor {

class UsageLedger {
 public:
  static constexpr std::size_t kDefaultMaxUsers = 500;
  static constexpr const char* kOther = "other";

  explicit UsageLedger(std::size_t max_users = kDefaultMaxUsers) : max_users_(max_users) {}

  // Who a session counts for: its certificate's common name, or on an instance whose users
  // share one certificate, the address it comes from (without the port).
  static std::string userOf(bool shared_certificate, const model::ConnectedClient& client);
  // "2026-12": the UTC month of a time_t.
  static std::string monthOf(std::int64_t time_s);

  // One complete status poll of an instance at wall-clock time now_s. True when a figure
  // changed.
  bool observe(const std::string& instance, bool shared_certificate,
               const std::vector<model::ConnectedClient>& clients, std::int64_t now_s);
  // An instance that is gone from the config: its open sessions are forgotten (its users'
  // totals stay: they are history).
  void forgetSessions(const std::string& instance) { sessions_.erase(instance); }

  // Every user, by instance and name.
  std::vector<model::UserUsage> users() const;
  std::size_t userCount() const;

  nlohmann::json toJson() const;
  // Strict: anything toJson would not write is refused with a message naming where.
  static std::optional<UsageLedger> fromJson(const nlohmann::json& json, std::size_t max_users,
                                             std::string* error);

 private:
  struct Session {
    std::string user;  // the ledger's user it counts for ("other" past the cap)
    std::uint64_t received = 0;
    std::uint64_t sent = 0;
    std::int64_t counted_s = 0;  // connected time already counted
  };
  static std::string sessionKey(const model::ConnectedClient& client);
  std::string slotFor(const std::string& instance, const std::string& user) const;

  std::size_t max_users_;
  std::map<std::string, std::map<std::string, Session>> sessions_;        // instance -> key
  std::map<std::string, std::map<std::string, model::UserUsage>> users_;  // instance -> user
};

}  // namespace meshbroker::supervisor
