// The HTTP listener: cpp-httplib on its own bounded thread pool, every request handed to the
// Router. TCP_NODELAY is on (cpp-httplib 0.11 leaves it off: ~43 ms per keep-alive request),
// request sizes and timeouts are bounded so slow or huge clients cannot pin the threads.
#pragma once

#include <memory>
#include <string>
#include <thread>

#include "web/router.hpp"

namespace httplib {
class Server;
}

namespace meshbroker::web {

struct ServerOptions {
  std::string listen = "127.0.0.1";
  int port = 8655;  // 0: any free port (tests)
  int threads = 16;
  std::size_t max_body = 64 * 1024;
  int read_timeout_s = 5;
  int write_timeout_s = 5;
  // cpp-httplib holds a worker for a keep-alive connection's whole life: a short idle timeout
  // and a request cap free workers soon, so idle clients (a page polling every 2 s) do not
  // pin them and lock others out. At most `threads` connections are served at once.
  int keep_alive_timeout_s = 1;
  int keep_alive_max = 100;
};

class HttpServer {
 public:
  HttpServer(const Router& router, ServerOptions options);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and starts serving on a thread of its own. Throws std::runtime_error (naming the
  // address and port) when it cannot bind.
  void start();
  void stop();
  bool running() const { return thread_.joinable(); }
  int port() const { return port_; }
  const ServerOptions& options() const { return options_; }

 private:
  const Router& router_;
  ServerOptions options_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
};

}  // namespace meshbroker::web
