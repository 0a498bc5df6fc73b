// What a server answers on its mesh address (issue 20): `GET /api/v1/network`, the signed
// network document it holds, exactly as the registry signed it (nodes verify it themselves, so
// it needs no token and no Host check: it is public, signed data). Nothing else is served
// there: the status page and the API stay on the status listener. Pure; any thread.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "web/router.hpp"

namespace meshbroker::web {

inline constexpr const char* kNetworkPath = "/api/v1/network";

class NetworkHandler : public Handler {
 public:
  // The envelope to serve from now on (empty: none yet, 503).
  void hold(std::string envelope);
  Response handle(const Request& request) const override;

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const std::string> envelope_;
};

inline constexpr const char* kJoinPath = "/api/v1/join";

// What the registry answers on its join port (every address: a new node is not on the mesh
// yet): `POST /api/v1/join` with a join request, passed to `admit` (which proves the
// invitation's token and answers); nothing else. Any thread; `admit` may block it.
class JoinHandler : public Handler {
 public:
  using Admit = std::function<Response(const std::string& body, const std::string& remote)>;
  explicit JoinHandler(Admit admit) : admit_(std::move(admit)) {}
  Response handle(const Request& request) const override;

 private:
  Admit admit_;
};

}  // namespace meshbroker::web
