#include "web/network_handler.hpp"

#include "web/api.hpp"

namespace meshbroker::web {
namespace {

Response error(int status, const char* code, const char* message) {
  Response r;
  r.status = status;
  r.body = errorBody(status, code, message).dump();
  r.headers.emplace_back("Cache-Control", "no-store");
  return r;
}

}  // namespace

void NetworkHandler::hold(std::string envelope) {
  auto held = envelope.empty() ? nullptr : std::make_shared<const std::string>(std::move(envelope));
  std::lock_guard lock(mutex_);
  envelope_ = std::move(held);
}

Response NetworkHandler::handle(const Request& request) const {
  if (request.path != kNetworkPath) {
    return error(404, "not_found", "this listener serves only /api/v1/network");
  }
  if (request.method != "GET" && request.method != "HEAD") {
    auto r = error(405, "method_not_allowed", "only GET reads the network document");
    r.headers.emplace_back("Allow", "GET, HEAD");
    return r;
  }
  std::shared_ptr<const std::string> envelope;
  {
    std::lock_guard lock(mutex_);
    envelope = envelope_;
  }
  if (!envelope) {
    auto r = error(503, "no_document", "this node holds no network document yet");
    r.headers.emplace_back("Retry-After", "5");
    return r;
  }
  Response r;
  r.body = *envelope;
  r.headers.emplace_back("Cache-Control", "no-store");
  return r;
}

Response JoinHandler::handle(const Request& request) const {
  if (request.path != kJoinPath) {
    return error(404, "not_found", "this listener serves only POST /api/v1/join");
  }
  if (request.method != "POST") {
    auto r = error(405, "method_not_allowed", "only POST joins");
    r.headers.emplace_back("Allow", "POST");
    return r;
  }
  auto r = admit_(request.body, request.remote);
  r.headers.emplace_back("Cache-Control", "no-store");
  return r;
}

}  // namespace meshbroker::web
