// Which `Host` a request may name: the defence against DNS rebinding. A web page on an
// attacker's name that resolves to the listener (or to an operator's `ssh -L` forward) makes
// the browser send that name as Host; we answer only to names the operator chose.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace meshbroker::web {

struct HostPolicy {
  std::string listen = "127.0.0.1";  // status.listen: an IP literal, maybe a wildcard
  std::vector<std::string> names;    // status.hosts: DNS names or IP literals
};

// Allowed, whatever the port after it (a forward may change the port):
//  - the listen address itself (an IPv6 one in brackets);
//  - localhost, 127.0.0.0/8 and [::1]: a browser sends them only when its user typed them, so
//    they cannot be an attacker's name (this is what `ssh -L` and a local socat give);
//  - any IP literal when listening on a wildcard (0.0.0.0, ::): an IP literal is not a name,
//    so nothing can rebind it;
//  - the names in status.hosts, compared without regard to case.
// Everything else is refused, including names that merely start with an allowed one
// ("127.0.0.1.evil.example"), a trailing dot, userinfo, or a malformed port.
bool hostAllowed(std::string_view host_header, const HostPolicy& policy);

// The policy the listener's threads read; replaced on reload.
class HostCheck {
 public:
  HostCheck();
  void set(HostPolicy policy);
  // host: the request's Host value; nullopt when it has none (only HTTP/1.0 may lack it:
  // browsers always send one, so such a request is no rebinding attempt).
  bool allowed(const std::optional<std::string>& host) const;

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const HostPolicy> policy_;
};

}  // namespace meshbroker::web
