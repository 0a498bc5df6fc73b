// HTTP abuse against meshbroker's status listener while a polite client measures it.
//
// Phases of --phase-seconds each: baseline (no abuse), then each abuse alone, then all of them
// at once. Abuses (raw sockets, no HTTP library: they send what libraries refuse to):
//   slowloris  --slow-connections connections that each trickle one header byte a second and
//              never finish; reconnected when the server closes them
//   oversize   heads of 20 KiB (431) and bodies of 70 KiB and 10 MB announced (413)
//   garbage    bad methods, traversal paths (raw and escaped), bytes that are not HTTP (8
//              clients: what never forms a request waits out the server's 5 s deadline)
//   actions    POSTs to every action without a token and with a wrong one, as fast as it goes
// The polite client, all along: GET /api/v1/status every 10 ms on a keep-alive connection and
// GET /metrics every 100 ms on a new one, each with a 5 s limit (a miss is a failure).
//
// Output, one JSON line per phase:
//   {"bench":"http_abuse","phase":"slowloris","seconds":15,"start_ms":..,"end_ms":..,"legit_ok":..,"legit_failed":..,
//    "legit_p50_ms":..,"legit_p99_ms":..,"legit_max_ms":..,"new_conn_p99_ms":..,
//    "abuse_sent":..,"abuse_status":{"408":..,"431":..},"abuse_closed_by_server":..}
//
// Usage: http_abuse [--host 127.0.0.1] [--port 8655] [--phase-seconds 15]
//                   [--slow-connections 600] [--phases baseline,slowloris,...,all]
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "stats.hpp"

namespace {

using Clock = std::chrono::steady_clock;

struct Target {
  std::string host = "127.0.0.1";
  int port = 8655;
};

int connectTo(const Target& t) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<std::uint16_t>(t.port));
  ::inet_pton(AF_INET, t.host.c_str(), &to.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
    ::close(fd);
    return -1;
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

bool sendAll(int fd, std::string_view data) {
  while (!data.empty()) {
    const auto n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

// Reads one response (head and Content-Length body) within `limit`. Returns its status, or
// nullopt when the connection closed first or the time ran out; *closed says whether the
// server closed the connection (after the response, or instead of one) or said it will
// (Connection: close).
std::optional<int> readResponse(int fd, std::string& buffer, std::chrono::milliseconds limit,
                                bool* closed) {
  *closed = false;
  const auto deadline = Clock::now() + limit;
  std::size_t need = std::string::npos;
  int status = 0;
  bool will_close = false;
  for (;;) {
    if (need == std::string::npos) {
      const auto end = buffer.find("\r\n\r\n");
      if (end != std::string::npos) {
        status = std::atoi(buffer.c_str() + std::min<std::size_t>(9, buffer.size()));
        std::size_t length = 0;
        const auto at = buffer.find("Content-Length: ");
        if (at != std::string::npos && at < end) {
          length = std::strtoul(buffer.c_str() + at + 16, nullptr, 10);
        }
        const auto close_at = buffer.find("Connection: close");
        will_close = close_at != std::string::npos && close_at < end;
        need = end + 4 + length;
      }
    }
    if (need != std::string::npos && buffer.size() >= need) {
      buffer.erase(0, need);
      *closed = will_close;
      return status;
    }
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return std::nullopt;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return std::nullopt;
    char chunk[16384];
    const auto n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n <= 0) {
      *closed = true;
      return std::nullopt;
    }
    buffer.append(chunk, static_cast<std::size_t>(n));
  }
}

struct Stats {
  std::mutex mutex;
  std::vector<double> keep_alive_ms, new_conn_ms;
  long ok = 0, failed = 0;
  long abuse_sent = 0, abuse_closed = 0;
  std::map<int, long> abuse_status;

  void legit(double ms, bool fresh, bool good) {
    std::lock_guard lock(mutex);
    (fresh ? new_conn_ms : keep_alive_ms).push_back(ms);
    good ? ++ok : ++failed;
  }
  void abuse(std::optional<int> status, bool closed) {
    std::lock_guard lock(mutex);
    ++abuse_sent;
    if (status) ++abuse_status[*status];
    if (closed) ++abuse_closed;
  }
  void abuseSent(long n, long closed) {
    std::lock_guard lock(mutex);
    abuse_sent += n;
    abuse_closed += closed;
  }
};

using meshbroker::bench::percentile;

std::string r3(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", v);
  return buf;
}

// --- the polite client ------------------------------------------------------------------------
void politeClient(const Target& t, std::atomic<bool>& stop, Stats& stats) {
  const std::string status_request = "GET /api/v1/status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  const std::string metrics_request =
      "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  int fd = -1;
  std::string buffer;
  auto next = Clock::now();
  for (int tick = 0; !stop; ++tick) {
    next += std::chrono::milliseconds(10);
    const bool fresh = tick % 10 == 0;
    const auto start = Clock::now();
    bool good = false;
    if (fresh) {
      const int once = connectTo(t);
      std::string scratch;
      bool closed = false;
      good = once >= 0 && sendAll(once, metrics_request) &&
             readResponse(once, scratch, std::chrono::seconds(5), &closed) == 200;
      if (once >= 0) ::close(once);
    } else {
      if (fd < 0) {
        fd = connectTo(t);
        buffer.clear();
      }
      bool closed = false;
      good = fd >= 0 && sendAll(fd, status_request) &&
             readResponse(fd, buffer, std::chrono::seconds(5), &closed) == 200;
      if (!good || closed) {
        if (fd >= 0) ::close(fd);
        fd = -1;
      }
    }
    stats.legit(std::chrono::duration<double, std::milli>(Clock::now() - start).count(), fresh,
                good);
    std::this_thread::sleep_until(next);
  }
  if (fd >= 0) ::close(fd);
}

// --- abusers ----------------------------------------------------------------------------------
void slowloris(const Target& t, int connections, std::atomic<bool>& stop, Stats& stats) {
  std::vector<int> fds(static_cast<std::size_t>(connections), -1);
  long sent = 0, closed = 0;
  while (!stop) {
    for (auto& fd : fds) {
      if (stop) break;
      if (fd < 0) {
        fd = connectTo(t);
        if (fd >= 0 && !sendAll(fd, "GET /api/v1/status HTTP/1.1\r\nHost: 127.0.0.1\r\n")) {
          ::close(fd);
          fd = -1;
        }
        ++sent;
        continue;
      }
      // A closed connection reads as EOF (or reset); anything else is one more header byte.
      char scratch[256];
      const auto n = ::recv(fd, scratch, sizeof scratch, MSG_DONTWAIT);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) || !sendAll(fd, "X")) {
        ::close(fd);
        fd = -1;
        ++closed;
      }
    }
    stats.abuseSent(sent, closed);
    sent = closed = 0;
    for (int i = 0; i < 10 && !stop; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  for (int fd : fds) {
    if (fd >= 0) ::close(fd);
  }
}

void oneShot(const Target& t, const std::string& request, Stats& stats) {
  const int fd = connectTo(t);
  if (fd < 0) {
    stats.abuse(std::nullopt, false);
    return;
  }
  std::string buffer;
  bool closed = false;
  std::optional<int> status;
  if (sendAll(fd, request)) status = readResponse(fd, buffer, std::chrono::seconds(5), &closed);
  if (status && !closed) {  // after an error the server should close: see that it does
    readResponse(fd, buffer, std::chrono::milliseconds(500), &closed);
  }
  ::close(fd);
  stats.abuse(status, closed);
}

void oversize(const Target& t, std::atomic<bool>& stop, Stats& stats) {
  const std::string big_head =
      "GET /api/v1/status HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + std::string(20 * 1024, 'a') +
      "\r\n\r\n";
  const std::string big_body =
      "POST /api/v1/gateways/cometa/drain HTTP/1.1\r\nHost: 127.0.0.1\r\n"
      "Content-Type: application/json\r\nContent-Length: 71680\r\n\r\n" +
      std::string(70 * 1024, '{');
  const std::string huge_announced =
      "POST /api/v1/backends/tinc/restart HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: "
      "10485760\r\n\r\n" +
      std::string(4096, 'z');
  const std::string long_target =
      "GET /" + std::string(6000, 'p') + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  for (int i = 0; !stop; ++i) {
    const std::string* which[] = {&big_head, &big_body, &huge_announced, &long_target};
    oneShot(t, *which[i % 4], stats);
  }
}

void garbage(const Target& t, std::atomic<bool>& stop, Stats& stats) {
  const std::vector<std::string> requests = {
      "FOO /api/v1/status HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
      "TRACE / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
      "CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
      "DELETE /api/v1/status HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
      "GET /../../../../etc/shadow HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
      "GET /api/v1/%2e%2e/%2e%2e/etc/passwd HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: "
      "close\r\n\r\n",
      "GET /api/v1/backends/..%2F..%2Fetc HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
      "GET /%00 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
      std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 tls hello", 22),
      "GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
      "GET / HTTP/7.0\r\n\r\n",
      "\r\n\r\n\r\n",
      "POST /api/v1/backends/tinc/restart HTTP/1.1\r\nTransfer-Encoding: "
      "chunked\r\n\r\nffffffff\r\n",
  };
  // Each thread starts somewhere else in the list.
  auto i = std::hash<std::thread::id>{}(std::this_thread::get_id());
  for (; !stop; ++i) oneShot(t, requests[i % requests.size()], stats);
}

void actions(const Target& t, std::atomic<bool>& stop, Stats& stats) {
  const std::vector<std::string> paths = {
      "/api/v1/backends/tinc/restart", "/api/v1/gateways/cometa/drain",
      "/api/v1/gateways/illimani/undrain", "/api/v1/clients/public/alice/disconnect"};
  int fd = -1;
  std::string buffer;
  for (std::size_t i = 0; !stop; ++i) {
    if (fd < 0) {
      fd = connectTo(t);
      buffer.clear();
      if (fd < 0) continue;
    }
    std::string request = "POST " + paths[i % paths.size()] + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
    if (i % 2) request += "Authorization: Bearer wrong-token-" + std::to_string(i) + "\r\n";
    request += "Content-Length: 0\r\n\r\n";
    bool closed = false;
    std::optional<int> status;
    if (sendAll(fd, request)) status = readResponse(fd, buffer, std::chrono::seconds(5), &closed);
    stats.abuse(status, closed);
    if (!status || closed) {
      ::close(fd);
      fd = -1;
    }
  }
  if (fd >= 0) ::close(fd);
}

long long wallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string phaseLine(const std::string& phase, int seconds, long long start_ms, long long end_ms,
                      Stats& s) {
  std::lock_guard lock(s.mutex);
  std::vector<double> all = s.keep_alive_ms;
  all.insert(all.end(), s.new_conn_ms.begin(), s.new_conn_ms.end());
  std::ostringstream out;
  out << "{\"bench\":\"http_abuse\",\"phase\":\"" << phase << "\",\"seconds\":" << seconds
      << ",\"start_ms\":" << start_ms << ",\"end_ms\":" << end_ms << ",\"legit_ok\":" << s.ok
      << ",\"legit_failed\":" << s.failed << ",\"legit_p50_ms\":" << r3(percentile(all, 0.5))
      << ",\"legit_p99_ms\":" << r3(percentile(all, 0.99))
      << ",\"legit_max_ms\":" << r3(percentile(all, 1.0))
      << ",\"keep_alive_p99_ms\":" << r3(percentile(s.keep_alive_ms, 0.99))
      << ",\"new_conn_p99_ms\":" << r3(percentile(s.new_conn_ms, 0.99))
      << ",\"abuse_sent\":" << s.abuse_sent << ",\"abuse_status\":{";
  bool first = true;
  for (const auto& [status, count] : s.abuse_status) {
    out << (first ? "" : ",") << "\"" << status << "\":" << count;
    first = false;
  }
  out << "},\"abuse_closed_by_server\":" << s.abuse_closed << "}";
  return out.str();
}

}  // namespace

int main(int argc, char** argv) {
  Target target;
  int seconds = 15;
  int slow_connections = 600;
  std::string phases = "baseline,slowloris,oversize,garbage,actions,all";
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const char* value = i + 1 < argc ? argv[i + 1] : nullptr;
    if (arg == "--host" && value) {
      target.host = value, ++i;
    } else if (arg == "--port" && value) {
      target.port = std::atoi(value), ++i;
    } else if (arg == "--phase-seconds" && value) {
      seconds = std::atoi(value), ++i;
    } else if (arg == "--slow-connections" && value) {
      slow_connections = std::atoi(value), ++i;
    } else if (arg == "--phases" && value) {
      phases = value, ++i;
    } else {
      std::fprintf(stderr,
                   "usage: http_abuse [--host A] [--port N] [--phase-seconds S] "
                   "[--slow-connections N] [--phases baseline,slowloris,oversize,garbage,"
                   "actions,all]\n");
      return 2;
    }
  }
  if (target.port <= 0 || seconds <= 0 || slow_connections <= 0) {
    std::fprintf(stderr,
                 "http_abuse: --port, --phase-seconds and --slow-connections must be > 0\n");
    return 2;
  }
  std::stringstream list(phases);
  for (std::string phase; std::getline(list, phase, ',');) {
    Stats stats;
    std::atomic<bool> stop{false};
    const auto start_ms = wallMs();
    std::vector<std::thread> threads;
    threads.emplace_back([&] { politeClient(target, stop, stats); });
    const bool all = phase == "all";
    if (phase == "slowloris" || all) {
      threads.emplace_back([&] { slowloris(target, slow_connections, stop, stats); });
    }
    if (phase == "oversize" || all) threads.emplace_back([&] { oversize(target, stop, stats); });
    // Some garbage (a TLS hello, bare CRLFs) is only answered by the 5 s deadline: 8 at once.
    for (int i = 0; i < 8 && (phase == "garbage" || all); ++i) {
      threads.emplace_back([&] { garbage(target, stop, stats); });
    }
    if (phase == "actions" || all) threads.emplace_back([&] { actions(target, stop, stats); });
    if (threads.size() == 1 && phase != "baseline") {
      std::fprintf(stderr, "http_abuse: unknown phase \"%s\"\n", phase.c_str());
      stop = true;
      threads[0].join();
      return 2;
    }
    std::fprintf(stderr, "http_abuse: phase %s, %d s\n", phase.c_str(), seconds);
    std::this_thread::sleep_for(std::chrono::seconds(seconds));
    stop = true;
    for (auto& thread : threads) thread.join();
    std::printf("%s\n", phaseLine(phase, seconds, start_ms, wallMs(), stats).c_str());
    std::fflush(stdout);
    std::this_thread::sleep_for(std::chrono::seconds(2));  // let the server close what was left
  }
  return 0;
}
