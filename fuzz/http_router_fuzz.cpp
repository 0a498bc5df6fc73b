// libFuzzer target: arbitrary requests through the real HTTP request handling (web::Router,
// the code behind every HTTP request). Input: "METHOD\nPATH\nAUTHORIZATION\nBODY".
// Invariants: no crash or sanitizer report; the status is one the API documents; every
// JSON response parses and every error names its status; the token never appears in a
// response unless the caller put it there; an action reaches the daemon only with the right token
// and a safe name.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <set>
#include <string_view>

#include "web/router.hpp"

namespace {

using meshbroker::web::Request;

constexpr const char* kToken = "fuzz-token-0123456789abcdef";

meshbroker::model::Snapshot snapshot() {
  meshbroker::model::Snapshot s;
  s.generation = 7;
  s.updated_ms = 1795000000000;
  s.node = "chip";
  s.role = "server";
  s.backends.push_back({"tinc", "running", 10, 0, 0, 1, "", "", {"<b>line</b>"}});
  s.backends.push_back({"openvpn-public", "running", 11, 0, 0, 1, "", "", {}});
  s.mesh["cometa"] = {true, "192.0.2.9 port 655", 1};
  meshbroker::model::HealthSnapshot health;
  health.peers["cometa"].verdict = "up";
  health.peers["cometa"].rtt_ms = 1.0;
  s.health = health;
  return s;
}

struct Fixture {
  Fixture()
      : store({"fuzz"}),
        router(
            store, auth,
            [](const nlohmann::json& request, const std::string&) -> std::optional<nlohmann::json> {
              // What reaches the daemon has been authorized and names a safe target.
              const std::string dump = request.dump();
              for (unsigned char c : dump) {
                if (c < 0x20) std::abort();
              }
              return nlohmann::json{{"ok", true}};
            },
            nullptr) {
    auth.set(std::string(kToken));
    store.publish(snapshot());
  }
  meshbroker::web::SnapshotStore store;
  meshbroker::web::TokenAuth auth;
  meshbroker::web::Router router;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Fixture fixture;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  std::string parts[4];
  for (int i = 0; i < 3; ++i) {
    auto newline = text.find('\n');
    if (newline == std::string_view::npos) {
      parts[i] = std::string(text);
      text = {};
      break;
    }
    parts[i] = std::string(text.substr(0, newline));
    text.remove_prefix(newline + 1);
  }
  parts[3] = std::string(text);
  Request request{parts[0], parts[1], parts[2], parts[3], "127.0.0.1:1", "127.0.0.1:8655"};
  auto response = fixture.router.handle(request);
  static const std::set<int> kStatuses = {200, 400, 401, 403, 404, 405, 409, 503};
  if (!kStatuses.count(response.status)) std::abort();
  if (response.content_type == "application/json") {
    auto body = nlohmann::json::parse(response.body, nullptr, false);
    if (body.is_discarded()) std::abort();
    if (response.status != 200 && body["error"]["status"] != response.status) std::abort();
  }
  // The token may only come back if the caller sent it in the path or method (404 and 405
  // messages quote them), never from the token file.
  if (response.body.find(kToken) != std::string::npos &&
      request.path.find(kToken) == std::string::npos &&
      request.method.find(kToken) == std::string::npos) {
    std::abort();
  }
  return 0;
}
