// cpp-httplib adapter: converts its requests to web::Request and back. Errors cpp-httplib
// raises itself (oversized headers or body, bad request lines) get JSON bodies too.
#include "web/server.hpp"

#include <httplib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <stdexcept>

#include "web/api.hpp"

namespace meshbroker::web {

namespace {
constexpr int kHttpNice = 19;
}  // namespace

HttpServer::HttpServer(const Router& router, ServerOptions options)
    : router_(router), options_(std::move(options)) {}

HttpServer::~HttpServer() { stop(); }

void HttpServer::start() {
  if (running()) return;
  auto server = std::make_unique<httplib::Server>();
  const int threads = std::max(1, options_.threads);
  server->new_task_queue = [threads] {
    return new httplib::ThreadPool(static_cast<size_t>(threads));
  };
  server->set_tcp_nodelay(true);
  server->set_payload_max_length(options_.max_body);
  server->set_read_timeout(options_.read_timeout_s, 0);
  server->set_write_timeout(options_.write_timeout_s, 0);
  server->set_keep_alive_timeout(options_.keep_alive_timeout_s);
  server->set_keep_alive_max_count(static_cast<size_t>(options_.keep_alive_max));
  // Catch-all handlers (not the pre-routing hook: it runs before cpp-httplib reads the body and
  // enforces the payload limit). The Router decides 404 and 405 itself.
  auto handler = [this](const httplib::Request& in, httplib::Response& out) {
    Request request;
    request.method = in.method;
    request.path = in.path;
    request.authorization = in.get_header_value("Authorization");
    request.body = in.body;
    request.remote = in.remote_addr + ":" + std::to_string(in.remote_port);
    Response response = router_.handle(request);
    out.status = response.status;
    for (const auto& [name, value] : response.headers) out.set_header(name, value);
    out.set_content(std::move(response.body), response.content_type);
  };
  // A request without Content-Length or Transfer-Encoding has no body (RFC 9112 6.3), but
  // cpp-httplib 0.11 answers such a POST (e.g. `curl -X POST`) with 400: answer it before
  // cpp-httplib tries to read a body. Requests with a body go on to the handlers below.
  server->set_pre_routing_handler([handler](const httplib::Request& in, httplib::Response& out) {
    if (in.has_header("Content-Length") || in.has_header("Transfer-Encoding")) {
      return httplib::Server::HandlerResponse::Unhandled;
    }
    handler(in, out);
    return httplib::Server::HandlerResponse::Handled;
  });
  const std::string any = "/.*";
  server->Get(any, handler);
  server->Post(any, handler);
  server->Put(any, handler);
  server->Delete(any, handler);
  server->Patch(any, handler);
  server->Options(any, handler);
  // Only SO_REUSEADDR: cpp-httplib's default adds SO_REUSEPORT, which would let a second
  // meshbroker bind the same port and take half of the requests.
  server->set_socket_options([](socket_t sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  server->set_error_handler([](const httplib::Request&, httplib::Response& out) {
    if (!out.body.empty()) return;
    const char* code = "bad_request";
    const char* message = "the request could not be read (bad request line or headers)";
    if (out.status == 413) {
      code = "too_large";
      message = "the request body is too large";
    } else if (out.status == 414) {
      code = "uri_too_long";
      message = "the request URI is too long";
    } else if (out.status == 404) {  // cpp-httplib refuses paths that climb out with ".."
      code = "not_found";
      message = "no such page";
    } else if (out.status == 431) {
      code = "headers_too_large";
      message = "the request headers are too large";
    }
    out.set_content(errorBody(out.status, code, message).dump(), "application/json");
  });
  server->set_exception_handler(
      [](const httplib::Request&, httplib::Response& out, std::exception_ptr) {
        out.status = 500;
        out.set_content(errorBody(500, "internal", "internal error").dump(), "application/json");
      });
  int port = options_.port;
  if (port == 0) {
    port = server->bind_to_any_port(options_.listen);
    if (port <= 0) {
      throw std::runtime_error("cannot listen on " + options_.listen + " (any port)");
    }
  } else if (!server->bind_to_port(options_.listen, port)) {
    throw std::runtime_error("cannot listen on " + options_.listen + " port " +
                             std::to_string(port) + " (in use, or not an address of this machine)");
  }
  port_ = port;
  server_ = std::move(server);
  thread_ = std::thread([server = server_.get()] {
    // Below the event loop and tincd: under a flood of requests on a small machine the HTTP
    // threads must not starve the probes (their replies would look late and gateways would
    // flap). Nice is per thread on Linux, and the worker pool, made by this thread, inherits it.
    ::setpriority(PRIO_PROCESS, static_cast<id_t>(::syscall(SYS_gettid)), kHttpNice);
    server->listen_after_bind();
  });
  // cpp-httplib's stop() is lost if it comes before the accept loop started (the loop then
  // runs forever and join() hangs): return only once it runs.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!server_->is_running() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

void HttpServer::stop() {
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
  server_.reset();
}

}  // namespace meshbroker::web
