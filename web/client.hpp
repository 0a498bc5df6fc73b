// A one-shot HTTP/1.1 GET for the command line (`meshbroker status`): Boost.Beast, the same
// library as the listener, with one deadline for connect, request and reply. Not a general
// client: one request, a bounded reply, then the connection is closed.
//
// (The CLI used cpp-httplib's client. Debian's libcpp-httplib is built with OpenSSL and runs
// OPENSSL_init_ssl() from a static constructor, so merely linking it paged in ~3.5 MB of
// libcrypto and libssl in every meshbroker process, the daemon included.)
#pragma once

#include <chrono>
#include <cstddef>
#include <string>

namespace meshbroker::web {

struct GetResult {
  bool ok = false;    // a whole HTTP reply arrived (any status)
  int status = 0;     // its status code
  std::string body;   // its body
  std::string error;  // why not, when !ok ("connection refused", "timed out after 5 s", ...)
  // Nothing came back to the connection attempt (no SYN-ACK, no reset) before the deadline:
  // the host or the path to it is silent. A refusal, or a timeout later on, is an answer.
  bool connect_timed_out = false;
};

// GET `target` from host:port (host: an IPv4/IPv6 literal or a name), with an Authorization
// header when `authorization` is not empty. Never throws.
GetResult httpGet(const std::string& host, int port, const std::string& target,
                  std::chrono::milliseconds timeout = std::chrono::seconds(5),
                  std::size_t max_body = 16 * 1024 * 1024, const std::string& authorization = "");

// The same with a POST of a JSON body (`meshbroker join` to the registry).
GetResult httpPost(const std::string& host, int port, const std::string& target,
                   const std::string& body, std::chrono::milliseconds timeout,
                   std::size_t max_body);

}  // namespace meshbroker::web
