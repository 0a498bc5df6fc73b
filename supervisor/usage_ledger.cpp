#include "supervisor/usage_ledger.hpp"

#include <time.h>

#include <algorithm>

#include "model/snapshot.hpp"

namespace meshbroker::supervisor {

using nlohmann::json;

namespace {

void add(model::UsageCounters& to, std::uint64_t received, std::uint64_t sent, std::int64_t seconds,
         std::uint64_t sessions) {
  to.bytes_received += received;
  to.bytes_sent += sent;
  to.connected_s += seconds;
  to.sessions += sessions;
}

// Strict readers: a missing key or a wrong type is an error naming the path.
struct Reader {
  std::string* error;
  bool failed = false;

  void fail(const std::string& where, const std::string& why) {
    if (!failed && error) *error = where + ": " + why;
    failed = true;
  }
  const json* field(const json& object, const std::string& key, const std::string& where) {
    if (!object.is_object()) {
      fail(where, "is not an object");
      return nullptr;
    }
    auto it = object.find(key);
    if (it == object.end()) {
      fail(where + "/" + key, "is missing");
      return nullptr;
    }
    return &*it;
  }
  std::uint64_t unsignedAt(const json& object, const std::string& key, const std::string& where) {
    const auto* v = field(object, key, where);
    if (!v) return 0;
    // Parsed text holds a positive number as unsigned; a document built in memory may hold it
    // signed. Either, if it is a whole number >= 0.
    if (v->is_number_unsigned()) return v->get<std::uint64_t>();
    if (!v->is_number_integer() || v->get<std::int64_t>() < 0) {
      fail(where + "/" + key, "is not a number >= 0");
      return 0;
    }
    return static_cast<std::uint64_t>(v->get<std::int64_t>());
  }
  std::int64_t secondsAt(const json& object, const std::string& key, const std::string& where) {
    auto value = unsignedAt(object, key, where);
    if (value > static_cast<std::uint64_t>(INT64_MAX)) fail(where + "/" + key, "is too large");
    return static_cast<std::int64_t>(value);
  }
  std::string textAt(const json& object, const std::string& key, const std::string& where) {
    const auto* v = field(object, key, where);
    if (!v) return "";
    if (!v->is_string() || v->get<std::string>().empty() || v->get<std::string>().size() > 256) {
      fail(where + "/" + key, "is not a non-empty string of at most 256 characters");
      return "";
    }
    return v->get<std::string>();
  }
  model::UsageCounters countersAt(const json& object, const std::string& key,
                                  const std::string& where) {
    model::UsageCounters c;
    const auto* v = field(object, key, where);
    if (!v) return c;
    const auto path = where + "/" + key;
    c.bytes_received = unsignedAt(*v, "bytes_received", path);
    c.bytes_sent = unsignedAt(*v, "bytes_sent", path);
    c.connected_s = secondsAt(*v, "connected_s", path);
    c.sessions = unsignedAt(*v, "sessions", path);
    return c;
  }
};

}  // namespace

std::string UsageLedger::userOf(bool shared_certificate, const model::ConnectedClient& client) {
  if (!shared_certificate) return client.common_name;
  // OpenVPN prints "192.0.2.50:41234", and an IPv6 source without its port ("2001:db8::1");
  // "[2001:db8::1]:1194" is taken too.
  const std::string& address = client.real_address;
  if (address.starts_with('[')) {
    auto end = address.find(']');
    return end == std::string::npos ? address : address.substr(1, end - 1);
  }
  auto colon = address.find(':');
  if (colon != std::string::npos && address.find(':', colon + 1) == std::string::npos) {
    return address.substr(0, colon);
  }
  return address;
}

std::string UsageLedger::monthOf(std::int64_t time_s) {
  time_t t = static_cast<time_t>(time_s);
  tm utc{};
  gmtime_r(&t, &utc);
  const int year = utc.tm_year + 1900, month = utc.tm_mon + 1;
  return std::to_string(year) + (month < 10 ? "-0" : "-") + std::to_string(month);
}

std::string UsageLedger::sessionKey(const model::ConnectedClient& client) {
  return (client.client_id ? std::to_string(*client.client_id) : "-") + "/" +
         std::to_string(client.connected_since) + "/" + client.real_address + "/" +
         client.common_name;
}

std::size_t UsageLedger::userCount() const {
  std::size_t n = 0;
  for (const auto& [instance, users] : users_) {
    for (const auto& [name, usage] : users) n += name == kOther ? 0 : 1;
  }
  return n;
}

std::string UsageLedger::slotFor(const std::string& instance, const std::string& user) const {
  if (user == kOther) return kOther;  // a certificate named "other" shares the bucket
  auto it = users_.find(instance);
  if (it != users_.end() && it->second.count(user)) return user;
  return userCount() < max_users_ ? user : kOther;
}

bool UsageLedger::observe(const std::string& instance, bool shared_certificate,
                          const std::vector<model::ConnectedClient>& clients, std::int64_t now_s) {
  auto& sessions = sessions_[instance];
  auto& users = users_[instance];
  const auto month = monthOf(now_s);
  std::map<std::string, Session> next;
  bool changed = sessions.size() != 0;  // sessions ending change `connected`
  for (auto& [name, usage] : users) usage.connected = false;
  for (const auto& client : clients) {
    const auto key = sessionKey(client);
    if (next.count(key)) continue;  // listed twice: count it once
    auto known = sessions.find(key);
    const bool fresh = known == sessions.end();
    Session session =
        fresh ? Session{slotFor(instance, userOf(shared_certificate, client))} : known->second;
    // Counters that went backwards belong to a new process reusing the key: count them whole.
    const auto received = client.bytes_received >= session.received
                              ? client.bytes_received - session.received
                              : client.bytes_received;
    const auto sent =
        client.bytes_sent >= session.sent ? client.bytes_sent - session.sent : client.bytes_sent;
    const std::int64_t connected = std::max<std::int64_t>(0, now_s - client.connected_since);
    const std::int64_t seconds = connected > session.counted_s ? connected - session.counted_s : 0;
    auto& usage = users[session.user];
    if (usage.user.empty()) {
      usage.instance = instance;
      usage.user = session.user;
    }
    if (usage.month != month) {
      usage.month = month;
      usage.this_month = {};
    }
    add(usage.total, received, sent, seconds, fresh ? 1 : 0);
    add(usage.this_month, received, sent, seconds, fresh ? 1 : 0);
    usage.last_seen_s = now_s;
    usage.connected = true;
    changed = changed || fresh || received || sent || seconds;
    session.received = client.bytes_received;
    session.sent = client.bytes_sent;
    session.counted_s = std::max(session.counted_s, connected);
    next.emplace(key, std::move(session));
  }
  sessions = std::move(next);
  if (users.empty()) users_.erase(instance);
  return changed;
}

std::vector<model::UserUsage> UsageLedger::users() const {
  std::vector<model::UserUsage> out;
  for (const auto& [instance, users] : users_) {
    for (const auto& [name, usage] : users) out.push_back(usage);
  }
  return out;
}

json UsageLedger::toJson() const {
  json users = json::array();
  for (auto usage : this->users()) {
    usage.connected = false;  // live, not history: never kept
    users.push_back(model::toJson(usage));
  }
  json sessions = json::array();
  for (const auto& [instance, list] : sessions_) {
    for (const auto& [key, session] : list) {
      sessions.push_back({{"instance", instance},
                          {"key", key},
                          {"user", session.user},
                          {"received", session.received},
                          {"sent", session.sent},
                          {"counted_s", session.counted_s}});
    }
  }
  return {{"version", 1}, {"users", users}, {"sessions", sessions}};
}

std::optional<UsageLedger> UsageLedger::fromJson(const json& document, std::size_t max_users,
                                                 std::string* error) {
  Reader r{error};
  UsageLedger ledger(max_users);
  const auto* version = r.field(document, "version", "");
  if (version && (!version->is_number_integer() || version->get<std::int64_t>() != 1)) {
    r.fail("/version", "is not 1");
  }
  const auto* users = r.field(document, "users", "");
  const auto* sessions = r.field(document, "sessions", "");
  if (users && !users->is_array()) r.fail("/users", "is not an array");
  if (sessions && !sessions->is_array()) r.fail("/sessions", "is not an array");
  if (r.failed) return std::nullopt;
  for (std::size_t i = 0; i < users->size(); ++i) {
    const auto where = "/users/" + std::to_string(i);
    const auto& item = (*users)[i];
    model::UserUsage usage;
    usage.instance = r.textAt(item, "instance", where);
    usage.user = r.textAt(item, "user", where);
    usage.total = r.countersAt(item, "total", where);
    usage.month = r.textAt(item, "month", where);
    usage.this_month = r.countersAt(item, "this_month", where);
    usage.last_seen_s = r.secondsAt(item, "last_seen_s", where);
    if (r.failed) return std::nullopt;
    if (ledger.users_[usage.instance].count(usage.user)) {
      r.fail(where, "lists " + usage.instance + "/" + usage.user + " twice");
      return std::nullopt;
    }
    ledger.users_[usage.instance].emplace(usage.user, std::move(usage));
  }
  for (std::size_t i = 0; i < sessions->size(); ++i) {
    const auto where = "/sessions/" + std::to_string(i);
    const auto& item = (*sessions)[i];
    auto instance = r.textAt(item, "instance", where);
    auto key = r.textAt(item, "key", where);
    Session session{r.textAt(item, "user", where), r.unsignedAt(item, "received", where),
                    r.unsignedAt(item, "sent", where), r.secondsAt(item, "counted_s", where)};
    if (r.failed) return std::nullopt;
    auto owner = ledger.users_.find(instance);
    if (owner == ledger.users_.end() || !owner->second.count(session.user)) {
      r.fail(where + "/user", "names no user of instance " + instance);
      return std::nullopt;
    }
    ledger.sessions_[instance][key] = std::move(session);
  }
  return ledger;
}

}  // namespace meshbroker::supervisor
