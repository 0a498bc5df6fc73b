// Boost.Beast adapter: reads requests off the wire with deadlines and size limits, converts them
// to web::Request, and writes the Handler's web::Response back. Errors the wire itself causes
// (a head too large, a body too large, a request that does not parse, a client too slow) get the
// same JSON error bodies as the Router's own.
#include "web/server.hpp"

#include <pthread.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

// clang-format off
#include "io/asio.hpp"  // before Beast: see there
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
// clang-format on

#include <atomic>
#include <chrono>
#include <list>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>
#include <vector>

#include "config/types.hpp"
#include "web/api.hpp"

namespace meshbroker::web {

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr int kHttpNice = 19;

}  // namespace

std::string decodeTargetPath(std::string_view target) {
  target = target.substr(0, target.find('?'));
  std::string path;
  path.reserve(target.size());
  for (std::size_t i = 0; i < target.size(); ++i) {
    if (target[i] == '%' && i + 2 < target.size()) {
      const int high = config::hexDigitValue(target[i + 1]);
      const int low = config::hexDigitValue(target[i + 2]);
      if (high >= 0 && low >= 0) {
        path.push_back(static_cast<char>(high * 16 + low));
        i += 2;
        continue;
      }
    }
    path.push_back(target[i]);
  }
  return path;
}

class Session;

// Everything the sessions share: the Handler, the limits, and the list of connections waiting
// for a request (oldest first), from which one is closed when the server is full.
class HttpServer::Listener {
 public:
  Listener(const Handler& handler, const ServerOptions& options)
      : handler_(handler), options_(options), acceptor_(io_), retry_(io_) {}

  const Handler& handler() const { return handler_; }
  const ServerOptions& options() const { return options_; }
  tcp::acceptor& acceptor() { return acceptor_; }

  void accept();
  void run(int threads);
  void stop();
  bool running() const { return !threads_.empty(); }

  // A session waiting for (the rest of) a request joins a queue; it leaves when the request is
  // in, or when it closes. Connections that never completed a request wait in `fresh_`, the
  // others (keep-alive clients between requests) in `served_`: room is made in `fresh_` first,
  // so a flood of new half-open connections cannot push out the clients already being served.
  struct Entry {
    std::weak_ptr<Session> session;
    bool evicted = false;
  };
  struct Waiting {
    std::list<Entry>* queue;
    std::list<Entry>::iterator place;
  };
  Waiting wait(const std::shared_ptr<Session>& session, bool served_before);
  void leave(Waiting waiting);
  void opened() { ++accepted_, ++open_; }
  void closed() { --open_; }
  void timedOut() { ++timed_out_; }

  Counters counters() const {
    return {open_.load(), accepted_.load(), timed_out_.load(), evicted_.load()};
  }

 private:
  void makeRoom();

  const Handler& handler_;
  const ServerOptions options_;
  // Before io_: the sessions io_ still holds when it is destroyed leave the queue and count
  // themselves closed then.
  std::mutex mutex_;
  std::list<Entry> fresh_, served_;  // oldest first
  std::atomic<std::size_t> open_{0}, accepted_{0}, timed_out_{0}, evicted_{0};
  asio::io_context io_;
  tcp::acceptor acceptor_;
  asio::steady_timer retry_;
  std::vector<std::thread> threads_;
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, HttpServer::Listener* listener)
      : stream_(std::move(socket)), listener_(listener) {
    boost::system::error_code ec;
    const auto peer = stream_.socket().remote_endpoint(ec);
    if (!ec) remote_ = peer.address().to_string() + ":" + std::to_string(peer.port());
    stream_.socket().set_option(tcp::no_delay(true), ec);
    listener_->opened();
  }
  ~Session() {
    if (waiting_) listener_->leave(*waiting_);
    listener_->closed();
  }

  void start() { read(); }

  // From another thread: close this connection (the server needs room).
  void evict() {
    asio::post(stream_.get_executor(), [self = shared_from_this()] {
      if (!self->waiting_) return;  // its request came in meanwhile: let it be answered
      boost::system::error_code ignored;
      self->stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
      self->stream_.close();
    });
  }

 private:
  void read() {
    const auto& options = listener_->options();
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(options.max_head));
    parser_->body_limit(options.max_body);
    waiting_ = listener_->wait(shared_from_this(), served_ > 0);
    stream_.expires_after(std::chrono::seconds(options.read_timeout_s));
    http::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->onRead(ec); });
  }

  void onRead(beast::error_code ec) {
    listener_->leave(*waiting_);
    waiting_.reset();
    if (ec == http::error::end_of_stream) return close();
    if (ec == beast::error::timeout) {  // the stream closed the socket already
      listener_->timedOut();
      return;
    }
    if (ec == http::error::header_limit) {
      const std::string_view seen(static_cast<const char*>(buffer_.data().data()), buffer_.size());
      if (seen.find("\r\n") == std::string_view::npos) {
        return fail(414, "uri_too_long", "the request URI is too long");
      }
      return fail(431, "headers_too_large", "the request headers are too large");
    }
    if (ec == http::error::body_limit)
      return fail(413, "too_large", "the request body is too large");
    if (ec.category() == http::make_error_code(http::error::bad_method).category()) {
      return fail(400, "bad_request",
                  "the request could not be read (bad request line or headers)");
    }
    if (ec) return close();  // reset, aborted, evicted: nobody to answer
    serve(parser_->release());
  }

  void serve(http::request<http::string_body> in) {
    if (in.target().size() > listener_->options().max_target) {
      return fail(414, "uri_too_long", "the request URI is too long");
    }
    Request request;
    const auto method = in.method_string();
    request.method.assign(method.data(), method.size());
    const auto target = in.target();
    request.path = decodeTargetPath(std::string_view(target.data(), target.size()));
    const auto authorization = in[http::field::authorization];
    request.authorization.assign(authorization.data(), authorization.size());
    request.body = std::move(in.body());
    request.remote = remote_;
    // RFC 9112: exactly one Host in HTTP/1.1. HTTP/1.0 may lack it (no browser does).
    const auto hosts = in.count(http::field::host);
    if (hosts > 1) return fail(400, "bad_request", "more than one Host header");
    if (hosts == 1) {
      const auto host = in[http::field::host];
      request.host.emplace(host.data(), host.size());
    } else if (in.version() >= 11) {
      return fail(400, "bad_request", "an HTTP/1.1 request needs a Host header");
    }
    Response response = listener_->handler().handle(request);
    const bool keep_alive = in.keep_alive() && ++served_ < listener_->options().keep_alive_max;
    respond(std::move(response), in.version(), keep_alive, in.method() == http::verb::head);
  }

  void fail(int status, const char* code, const char* message) {
    Response response;
    response.status = status;
    response.body = errorBody(status, code, message).dump();
    respond(std::move(response), 11, false, false);
  }

  void respond(Response response, unsigned version, bool keep_alive, bool head) {
    auto out = std::make_shared<http::response<http::string_body>>();
    out->version(version);
    out->result(static_cast<unsigned>(response.status));
    out->set(http::field::content_type, response.content_type);
    for (const auto& [name, value] : response.headers) out->set(name, value);
    out->keep_alive(keep_alive);
    if (head) {
      out->content_length(response.body.size());  // HEAD: the length a GET would send
    } else {
      out->body() = std::move(response.body);
      out->prepare_payload();
    }
    stream_.expires_after(std::chrono::seconds(listener_->options().write_timeout_s));
    http::async_write(stream_, *out,
                      [self = shared_from_this(), out](beast::error_code ec, std::size_t) {
                        if (ec) return self->close();
                        if (!out->keep_alive()) return self->close();
                        self->read();
                      });
  }

  void close() {
    boost::system::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.close();
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  HttpServer::Listener* listener_;  // outlives every session (its io_context holds them)
  std::optional<HttpServer::Listener::Waiting> waiting_;
  std::string remote_ = "?";
  int served_ = 0;
};

HttpServer::Listener::Waiting HttpServer::Listener::wait(const std::shared_ptr<Session>& session,
                                                         bool served_before) {
  std::lock_guard lock(mutex_);
  auto& queue = served_before ? served_ : fresh_;
  return {&queue, queue.insert(queue.end(), Entry{session})};
}

void HttpServer::Listener::leave(Waiting waiting) {
  std::lock_guard lock(mutex_);
  waiting.queue->erase(waiting.place);
}

void HttpServer::Listener::makeRoom() {
  std::shared_ptr<Session> oldest;
  {
    std::lock_guard lock(mutex_);
    if (open_ < static_cast<std::size_t>(std::max(1, options_.max_connections))) return;
    for (auto* queue : {&fresh_, &served_}) {
      for (auto& entry : *queue) {  // oldest first; an entry leaves when its read ends
        if (entry.evicted) continue;
        if ((oldest = entry.session.lock())) {
          entry.evicted = true;
          break;
        }
      }
      if (oldest) break;
    }
  }
  if (oldest) {
    ++evicted_;
    oldest->evict();
  }
}

void HttpServer::Listener::accept() {
  acceptor_.async_accept(asio::make_strand(io_), [this](beast::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
    if (!ec) {
      makeRoom();
      std::make_shared<Session>(std::move(socket), this)->start();
      return accept();
    }
    // Out of file descriptors (or another passing failure): make room, try again shortly.
    makeRoom();
    retry_.expires_after(std::chrono::milliseconds(50));
    retry_.async_wait([this](beast::error_code wait_ec) {
      if (!wait_ec) accept();
    });
  });
}

void HttpServer::Listener::run(int threads) {
  for (int i = 0; i < std::max(1, threads); ++i) {
    threads_.emplace_back([this] {
      // Below the event loop and tincd: under a flood of requests on a small machine the HTTP
      // threads must not starve the probes (their replies would look late and gateways would
      // flap). Nice is per thread on Linux.
      ::setpriority(PRIO_PROCESS, static_cast<id_t>(::syscall(SYS_gettid)), kHttpNice);
      ::pthread_setname_np(::pthread_self(), "mb-http");  // for top -H, ps -L, bench/http
      io_.run();
    });
  }
}

void HttpServer::Listener::stop() {
  io_.stop();
  for (auto& thread : threads_) thread.join();
  threads_.clear();
  boost::system::error_code ignored;
  acceptor_.close(ignored);
}

HttpServer::HttpServer(const Handler& handler, ServerOptions options)
    : handler_(handler), options_(std::move(options)) {}

HttpServer::~HttpServer() { stop(); }

bool HttpServer::running() const { return listener_ && listener_->running(); }

HttpServer::Counters HttpServer::counters() const {
  return listener_ ? listener_->counters() : Counters{};
}

void HttpServer::start() {
  if (running()) return;
  auto listener = std::make_unique<Listener>(handler_, options_);
  const auto where = [&](int port) {
    return options_.listen + (port ? " port " + std::to_string(port) : std::string(" (any port)"));
  };
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(options_.listen, ec);
  if (ec) throw std::runtime_error("cannot listen on " + where(options_.port) + ": not an address");
  const tcp::endpoint endpoint(address, static_cast<unsigned short>(options_.port));
  auto& acceptor = listener->acceptor();
  acceptor.open(endpoint.protocol(), ec);
  // Only SO_REUSEADDR (no SO_REUSEPORT): a second meshbroker must not bind the same port and
  // take half of the requests.
  if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec && address.is_v6()) acceptor.set_option(asio::ip::v6_only(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    throw std::runtime_error("cannot listen on " + where(options_.port) + " (" + ec.message() +
                             (ec == asio::error::address_in_use ? ": in use"
                              : ec == boost::system::errc::address_not_available
                                  ? ": not an address of this machine"
                                  : "") +
                             ")");
  }
  port_ = acceptor.local_endpoint().port();
  listener->accept();
  listener->run(options_.threads);
  listener_ = std::move(listener);
}

void HttpServer::stop() {
  if (!listener_) return;
  listener_->stop();
  listener_.reset();  // its io_context destroys the sessions it still holds
}

}  // namespace meshbroker::web
