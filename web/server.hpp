// The HTTP listener: Boost.Beast on an io_context of its own (never the daemon's event loop),
// every request handed to a Handler (the Router). Event-driven, so an open connection costs a
// buffer, not a thread: slow or idle clients cannot pin workers. Every request must arrive whole
// within `read_timeout_s` of the read starting (slowloris clients are cut off), heads and bodies
// are bounded, and past `max_connections` the connection that has waited longest for its
// first request is closed to make room (a keep-alive client between requests only when there
// is no such one), so a flood of half-open clients cannot lock others out.
//
// (cpp-httplib 0.11, the first listener here, gives each connection a worker thread and only
// bounds the wait for each byte: 16 clients trickling one header byte every few seconds held
// all 16 workers for as long as they liked. Its client is still used by the CLI and tests.)
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "web/router.hpp"

namespace meshbroker::web {

struct ServerOptions {
  std::string listen = "127.0.0.1";
  int port = 8655;  // 0: any free port (tests)
  // Threads running the listener's io_context (at nice 19, below the event loop and tincd).
  // Requests are handled on them; an action waits there for the event loop's answer, so more
  // than one keeps reads flowing while an action runs.
  int threads = 2;
  std::size_t max_body = 64 * 1024;
  std::size_t max_head = 16 * 1024;  // request line and headers
  std::size_t max_target = 4096;     // the request target (path and query): longer is 414
  int read_timeout_s = 5;            // a whole request (head and body), from the read's start
  int write_timeout_s = 5;           // a whole response
  int keep_alive_max = 1000;         // requests on one connection before it is closed
  int max_connections = 256;         // open at once; the oldest waiting one makes room
};

// A listener some part started (the network document, joins), as that part holds it: it only
// ever stops it. Made by startServer(), so that a part that serves only on a server does not
// make a gateway-only build link the listener (web/no_server.cpp).
class RunningServer {
 public:
  virtual ~RunningServer() = default;
  virtual void stop() = 0;
};

// An HttpServer for `handler`, started. Throws std::runtime_error when it cannot bind, and in
// a gateway-only build (MESHBROKER_GATEWAY_ONLY) always: it serves nothing.
std::unique_ptr<RunningServer> startServer(const Handler& handler, const ServerOptions& options);

class HttpServer : public RunningServer {
 public:
  HttpServer(const Handler& handler, ServerOptions options);
  ~HttpServer() override;
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and starts serving on threads of its own. Throws std::runtime_error (naming the
  // address and port) when it cannot bind.
  void start();
  void stop() override;
  bool running() const;
  int port() const { return port_; }
  const ServerOptions& options() const { return options_; }

  struct Counters {
    std::size_t open = 0;       // connections open now
    std::size_t accepted = 0;   // since start
    std::size_t timed_out = 0;  // cut off for not sending a whole request in time
    std::size_t evicted = 0;    // closed to make room past max_connections
  };
  Counters counters() const;

  class Listener;

 private:
  const Handler& handler_;
  ServerOptions options_;
  std::unique_ptr<Listener> listener_;
  int port_ = 0;
};

// "/a%20b?x=1" -> "/a b": the path of a request target, percent-decoded, without the query.
// Malformed escapes stay as they are (the Router then finds no such page).
std::string decodeTargetPath(std::string_view target);

}  // namespace meshbroker::web
