// The request table: which path and method does what, with the error codes of docs/api.md.
#include "web/router.hpp"

#include <algorithm>
#include <string_view>

namespace meshbroker::web {
namespace {

using nlohmann::json;

constexpr std::string_view kApi = "/api/v1/";

Response jsonResponse(int status, const json& body) {
  Response r;
  r.status = status;
  r.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
  return r;
}

Response error(int status, std::string_view code, std::string_view message) {
  return jsonResponse(status, errorBody(status, code, message));
}

std::string printable(std::string_view text, std::size_t max);

Response methodNotAllowed(std::string_view allow, const std::string& method,
                          const std::string& path) {
  auto r = error(405, "method_not_allowed",
                 printable(method, 16) + " is not allowed on " + printable(path, 200) +
                     " (allowed: " + std::string(allow) + ")");
  r.headers.emplace_back("Allow", std::string(allow));
  return r;
}

std::vector<std::string_view> split(std::string_view path) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  while (start <= path.size()) {
    auto slash = path.find('/', start);
    if (slash == std::string_view::npos) slash = path.size();
    if (slash > start) parts.push_back(path.substr(start, slash - start));
    start = slash + 1;
  }
  return parts;
}

// Names in action paths: what meshbroker's own names and OpenVPN common names may hold, so a
// path segment can never smuggle a management command or a control character.
bool safeName(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.' || c == '@';
  });
}

// What a printable caller-supplied string looks like in the log.
std::string printable(std::string_view text, std::size_t max) {
  std::string out;
  for (char c : text.substr(0, max)) {
    auto u = static_cast<unsigned char>(c);
    out += u < 0x20 || u == 0x7f ? '?' : c;
  }
  if (text.size() > max) out += "...";
  return out;
}

bool isRead(const std::string& method) { return method == "GET" || method == "HEAD"; }

void noStore(Response& r) {
  r.headers.emplace_back("Cache-Control", "no-store");
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
}

// The actions: POST paths and the control request each one becomes.
struct Action {
  std::string what;  // for the log: "restart tinc"
  json request;      // Daemon::control's protocol
  std::string kind;  // backend, gateway, instance: what must exist in the snapshot
  std::string target;
};

std::optional<Action> parseAction(const std::vector<std::string_view>& parts,
                                  std::string* problem) {
  // parts: api v1 <collection> <name> [<name2>] <verb>
  if (parts.size() < 5) return std::nullopt;
  const auto collection = parts[2];
  const auto verb = parts.back();
  for (std::size_t i = 3; i + 1 < parts.size(); ++i) {
    if (!safeName(parts[i])) {
      *problem =
          "\"" + printable(parts[i], 80) + "\" is not a valid name (1..64 of A-Z a-z 0-9 _ - . @)";
      return std::nullopt;
    }
  }
  if (collection == "backends" && parts.size() == 5 && verb == "restart") {
    std::string id(parts[3]);
    return Action{"restart " + id, {{"command", "restart"}, {"backend", id}}, "backend", id};
  }
  if (collection == "gateways" && parts.size() == 5 && (verb == "drain" || verb == "undrain")) {
    std::string name(parts[3]);
    return Action{std::string(verb) + " " + name,
                  {{"command", std::string(verb)}, {"gateway", name}},
                  "gateway",
                  name};
  }
  if (collection == "clients" && parts.size() == 6 && verb == "disconnect") {
    std::string instance(parts[3]);
    std::string common_name(parts[4]);
    return Action{"disconnect " + common_name + " from " + instance,
                  {{"command", "openvpn"}, {"instance", instance}, {"line", "kill " + common_name}},
                  "instance",
                  instance};
  }
  return std::nullopt;
}

bool exists(const View& view, const std::string& kind, const std::string& name) {
  const auto& s = view.snapshot();
  if (kind == "backend") {
    return std::any_of(s.backends.begin(), s.backends.end(),
                       [&](const auto& b) { return b.id == name; });
  }
  if (kind == "gateway") {
    return s.health && s.health->peers.contains(name);
  }
  if (kind == "instance") {
    return std::any_of(s.backends.begin(), s.backends.end(),
                       [&](const auto& b) { return b.id == "openvpn-" + name; });
  }
  return false;
}

}  // namespace

Router::Router(const SnapshotStore& store, const TokenAuth& auth, Perform perform, Logger log)
    : store_(store), auth_(auth), perform_(std::move(perform)), log_(std::move(log)) {}

Response Router::handle(const Request& request) const {
  Response response;
  if (!hosts_.allowed(request.host)) {
    response = error(421, "unknown_host",
                     "Host \"" + printable(request.host.value_or(""), 100) +
                         "\" is not a name this meshbroker answers to (use its listen address "
                         "or localhost, or list the name in status.hosts)");
    noStore(response);
    return response;
  }
  auto view = store_.current();
  if (request.method == "POST" && request.path.starts_with(kApi)) {
    response = action(request, view.get());
  } else if (!view) {
    response = error(503, "starting", "meshbroker is starting; no state to show yet");
    response.headers.emplace_back("Retry-After", "1");
  } else {
    try {
      response = read(request, *view);
    } catch (const std::exception& e) {
      // A renderer met a status document it does not expect (web/json_fields.hpp): our bug,
      // not the caller's. Say so and go on serving.
      if (log_) {
        std::lock_guard lock(log_mutex_);
        log_("status: cannot answer " + printable(request.path, 100) + ": " + e.what());
      }
      response = error(500, "internal", "meshbroker could not render this; its log says why");
    }
  }
  noStore(response);
  return response;
}

Response Router::read(const Request& request, const View& view) const {
  const std::string& path = request.path;
  // No Authorization header: the public view. One that is there must be right.
  Access access = Access::kPublic;
  if (!request.authorization.empty()) {
    switch (auth_.check(request.authorization)) {
      case TokenAuth::Result::kOk:
        access = Access::kFull;
        break;
      case TokenAuth::Result::kMissing:
      case TokenAuth::Result::kMalformed: {
        auto r = error(401, "unauthorized",
                       "send \"Authorization: Bearer <token>\" for the full view, or no "
                       "Authorization header for the public one");
        r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"meshbroker\"");
        return r;
      }
      case TokenAuth::Result::kWrong:
        return error(403, "forbidden", "the bearer token is wrong");
      case TokenAuth::Result::kDisabled:
        return error(403, "details_disabled",
                     "this meshbroker has no usable status.token_file, so nobody gets the full "
                     "view; send no Authorization header for the public one");
    }
  }
  auto known = [&](Response ok) {
    if (isRead(request.method)) return ok;
    return methodNotAllowed("GET, HEAD", request.method, path);
  };
  if (path == "/") {
    Response r;
    r.content_type = "text/html; charset=utf-8";
    r.body = view.body(Body::kPage, access);
    r.headers.emplace_back("Content-Security-Policy",
                           "default-src 'none'; style-src 'unsafe-inline'; script-src "
                           "'unsafe-inline'; connect-src 'self'; base-uri 'none'; "
                           "form-action 'none'; frame-ancestors 'none'");
    return known(r);
  }
  if (path == "/live") {
    Response r;
    r.content_type = "text/html; charset=utf-8";
    r.body = view.body(Body::kLive, access);
    return known(r);
  }
  if (path == "/metrics") {
    Response r;
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    r.body = view.body(Body::kMetrics, access);
    return known(r);
  }
  if (path == "/api/v1" || path == "/api/v1/") {
    json index = {{"endpoints",
                   {"/api/v1/status", "/api/v1/backends", "/api/v1/gateways", "/api/v1/routes",
                    "/api/v1/mesh", "/api/v1/clients", "/api/v1/events", "/api/v1/usage"}},
                  {"actions",
                   {"POST /api/v1/backends/{id}/restart", "POST /api/v1/gateways/{name}/drain",
                    "POST /api/v1/gateways/{name}/undrain",
                    "POST /api/v1/clients/{instance}/{common_name}/disconnect"}}};
    return known(jsonResponse(200, index));
  }
  if (path.starts_with(kApi)) {
    const auto parts = split(path);
    if (parts.size() == 3) {
      if (auto which = documentNamed(parts[2])) {
        Response r;
        r.body = view.json(*which, access);
        return known(r);
      }
    }
    std::string problem;
    if (parseAction(parts, &problem)) return methodNotAllowed("POST", request.method, path);
    if (!problem.empty()) return error(404, "not_found", problem);
  }
  return error(404, "not_found", "no such page: " + printable(path, 200));
}

Response Router::action(const Request& request, const View* view) const {
  const auto parts = split(request.path);
  std::string problem;
  auto parsed = parseAction(parts, &problem);
  if (!parsed) {
    if (!problem.empty()) return error(404, "not_found", problem);
    // A read-only path that exists answers 405; anything else is not there.
    if (parts.size() == 3 && documentNamed(parts[2])) {
      return methodNotAllowed("GET, HEAD", request.method, request.path);
    }
    return error(404, "not_found", "no such action: " + printable(request.path, 200));
  }
  switch (auth_.check(request.authorization)) {
    case TokenAuth::Result::kOk:
      break;
    case TokenAuth::Result::kMissing:
    case TokenAuth::Result::kMalformed: {
      logAction(request, 401, parsed->what + ": no bearer token", false);
      auto r = error(401, "unauthorized",
                     "actions need an \"Authorization: Bearer <token>\" header (the token is in "
                     "the file status.token_file names)");
      r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"meshbroker\"");
      return r;
    }
    case TokenAuth::Result::kDisabled:
      logAction(request, 403, parsed->what + ": actions disabled", false);
      return error(403, "actions_disabled",
                   "actions are disabled: this meshbroker has no status.token_file");
    case TokenAuth::Result::kWrong:
      logAction(request, 403, parsed->what + ": wrong token", false);
      return error(403, "forbidden", "the bearer token is wrong");
  }
  std::string reason;
  if (!request.body.empty()) {
    auto body = json::parse(request.body, nullptr, false);
    if (body.is_discarded() || !body.is_object()) {
      logAction(request, 400, parsed->what + ": bad JSON body", true);
      return error(400, "bad_json", "the body must be a JSON object, e.g. {\"reason\": \"...\"}");
    }
    if (body.contains("reason")) {
      if (!body["reason"].is_string()) {
        return error(400, "bad_json", "/reason: must be a string");
      }
      reason = printable(body["reason"].get<std::string>(), 200);
    }
  }
  if (!view) return error(503, "starting", "meshbroker is starting; try again in a second");
  if (!exists(*view, parsed->kind, parsed->target)) {
    logAction(request, 404, parsed->what + ": no such " + parsed->kind, true);
    return error(404, "not_found", "no " + parsed->kind + " named \"" + parsed->target + "\"");
  }
  const std::string caller =
      "http " + printable(request.remote, 64) + (reason.empty() ? "" : ", reason: " + reason);
  auto reply = perform_ ? perform_(parsed->request, caller) : std::nullopt;
  if (!reply) {
    logAction(request, 503, parsed->what + ": the daemon did not answer in time", true);
    return error(503, "timeout", "the daemon did not answer in time; try again");
  }
  if (!reply->is_object() || !reply->value("ok", false)) {
    std::string message = reply->is_object() ? reply->value("error", "") : "";
    if (message.empty() && reply->is_object() && reply->contains("lines") &&
        (*reply)["lines"].is_array() && !(*reply)["lines"].empty() &&
        (*reply)["lines"].back().is_string()) {
      message = (*reply)["lines"].back().get<std::string>();  // OpenVPN's "ERROR: ..."
    }
    if (message.empty()) message = "the daemon refused " + parsed->what;
    const bool missing = message.find("not found") != std::string::npos;
    logAction(request, missing ? 404 : 409, parsed->what + ": " + message, true);
    return error(missing ? 404 : 409, missing ? "not_found" : "conflict", message);
  }
  logAction(request, 200, parsed->what + ": done", true);
  json body = {{"ok", true}, {"action", parsed->what}};
  if (reply->contains("lines")) body["detail"] = (*reply)["lines"];
  return jsonResponse(200, body);
}

void Router::logAction(const Request& request, int status, const std::string& outcome,
                       bool authorized) const {
  if (!log_) return;
  const std::string line = "http: POST " + printable(request.path, 200) + " from " +
                           printable(request.remote, 64) + ": " + std::to_string(status) + " " +
                           outcome;
  if (authorized) {
    log_(line);
    return;
  }
  std::string summary;
  {
    std::lock_guard lock(log_mutex_);
    const auto now = std::chrono::steady_clock::now();
    if (now - window_ >= std::chrono::seconds(1)) {
      if (refused_unlogged_ > 0) {
        summary = "http: " + std::to_string(refused_unlogged_) +
                  " more refused action(s) not logged (rate limit)";
      }
      window_ = now;
      refused_in_window_ = 0;
      refused_unlogged_ = 0;
    }
    if (refused_in_window_ >= kRefusedPerSecond) {
      ++refused_unlogged_;
      return;
    }
    ++refused_in_window_;
  }
  if (!summary.empty()) log_(summary);
  log_(line);
}

}  // namespace meshbroker::web
