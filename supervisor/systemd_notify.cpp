#include "supervisor/systemd_notify.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <charconv>
#include <cstdlib>
#include <cstring>

#include "io/unique_fd.hpp"

namespace meshbroker::supervisor {
namespace {

// A whole decimal number, nothing else (no sign, no spaces, no trailing bytes).
template <typename Number>
std::optional<Number> parseDecimal(const char* text) {
  if (text == nullptr || *text < '0' || *text > '9') return std::nullopt;
  const char* end = text + std::strlen(text);
  Number value{};
  auto [stop, ec] = std::from_chars(text, end, value);
  if (ec != std::errc() || stop != end) return std::nullopt;
  return value;
}

}  // namespace

std::optional<std::string> notifySocketPath(const char* value) {
  if (value == nullptr || *value == '\0') return std::nullopt;
  std::string path(value);
  if (path[0] == '@') {
    path[0] = '\0';
  } else if (path[0] != '/') {
    return std::nullopt;
  }
  if (path.size() < 2 || path.size() >= sizeof(sockaddr_un::sun_path)) return std::nullopt;
  return path;
}

std::optional<std::chrono::microseconds> watchdogPeriod(const char* usec, const char* pid,
                                                        pid_t self) {
  auto period = parseDecimal<unsigned long long>(usec);
  if (!period || *period == 0 || *period > 1000ULL * 1000 * 3600 * 24 * 365) return std::nullopt;
  if (pid != nullptr) {
    auto owner = parseDecimal<long long>(pid);
    if (!owner || *owner != static_cast<long long>(self)) return std::nullopt;
  }
  return std::chrono::microseconds(static_cast<std::chrono::microseconds::rep>(*period));
}

bool notifySystemd(const std::string& state) {
  auto path = notifySocketPath(std::getenv("NOTIFY_SOCKET"));
  if (!path || state.empty()) return false;
  io::UniqueFd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) return false;
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path, path->data(), path->size());
  const auto length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path->size() +
                                             (path->front() == '\0' ? 0 : 1));
  const auto sent = ::sendto(fd.get(), state.data(), state.size(), MSG_NOSIGNAL,
                             reinterpret_cast<const sockaddr*>(&address), length);
  return sent == static_cast<ssize_t>(state.size());
}

std::optional<std::chrono::microseconds> systemdWatchdogPeriod() {
  return watchdogPeriod(std::getenv("WATCHDOG_USEC"), std::getenv("WATCHDOG_PID"), ::getpid());
}

}  // namespace meshbroker::supervisor
