#include "web/client.hpp"

// clang-format off
#include "io/asio.hpp"  // before Beast: see there
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
// clang-format on

#include <exception>
#include <optional>
#include <string_view>

namespace meshbroker::web {

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

GetResult exchange(http::verb verb, const std::string& host, int port, const std::string& target,
                   const std::optional<std::string>& body, std::chrono::milliseconds timeout,
                   std::size_t max_body, const std::string& authorization) {
  GetResult result;
  if (port <= 0 || port > 65535) {
    result.error = "port " + std::to_string(port) + " is out of range";
    return result;
  }
  try {
    asio::io_context io;
    beast::tcp_stream stream(io);
    beast::flat_buffer buffer;
    http::request<http::string_body> request{verb, target, 11};
    request.set(http::field::host, host.find(':') != std::string::npos
                                       ? "[" + host + "]:" + std::to_string(port)
                                       : host + ":" + std::to_string(port));
    request.set(http::field::user_agent, "meshbroker-cli");
    request.set(http::field::connection, "close");
    if (!authorization.empty()) request.set(http::field::authorization, authorization);
    if (body) {
      request.set(http::field::content_type, "application/json");
      request.body() = *body;
      request.prepare_payload();
    }
    http::response_parser<http::string_body> parser;
    parser.body_limit(max_body);
    beast::error_code failure;
    const char* stage = "resolve";

    tcp::resolver resolver(io);
    stream.expires_after(timeout);
    resolver.async_resolve(
        host, std::to_string(port),
        [&](beast::error_code resolved, const tcp::resolver::results_type& endpoints) {
          if (resolved) {
            failure = resolved;
            return;
          }
          stage = "connect";
          stream.async_connect(endpoints, [&](beast::error_code connected, const tcp::endpoint&) {
            if (connected) {
              failure = connected;
              return;
            }
            stage = "send";
            http::async_write(stream, request, [&](beast::error_code sent, std::size_t) {
              if (sent) {
                failure = sent;
                return;
              }
              stage = "read";
              http::async_read_header(
                  stream, buffer, parser, [&](beast::error_code head, std::size_t) {
                    // Beast 1.74 checks body_limit against chunked and read-to-close bodies
                    // but not against a Content-Length: do that here.
                    if (!head && parser.is_header_done()) {
                      const auto length = parser.content_length();  // asserts a whole head
                      if (length && *length > max_body) head = http::error::body_limit;
                    }
                    if (head) {
                      failure = head;
                      return;
                    }
                    http::async_read(stream, buffer, parser,
                                     [&](beast::error_code read, std::size_t) { failure = read; });
                  });
            });
          });
        });
    // The resolver is not covered by the stream's deadline: bound the whole run as well.
    io.run_for(timeout + std::chrono::milliseconds(100));
    // The run cut short, or the stream's own deadline: the same timeout, at the same stage.
    const bool timed_out = !io.stopped() || failure == beast::error::timeout;
    if (timed_out || failure) {
      result.error =
          timed_out ? "timed out after " + std::to_string(timeout.count()) + " ms (" + stage + ")"
                    : std::string(stage) + ": " + failure.message();
      result.connect_timed_out = timed_out && std::string_view(stage) == "connect";
      return result;
    }
    result.ok = true;
    result.status = static_cast<int>(parser.get().result_int());
    result.body = std::move(parser.get().body());
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  } catch (const std::exception& e) {
    result.error = e.what();
  }
  return result;
}

}  // namespace

GetResult httpGet(const std::string& host, int port, const std::string& target,
                  std::chrono::milliseconds timeout, std::size_t max_body,
                  const std::string& authorization) {
  return exchange(http::verb::get, host, port, target, std::nullopt, timeout, max_body,
                  authorization);
}

GetResult httpPost(const std::string& host, int port, const std::string& target,
                   const std::string& body, std::chrono::milliseconds timeout,
                   std::size_t max_body) {
  return exchange(http::verb::post, host, port, target, body, timeout, max_body, "");
}

}  // namespace meshbroker::web
