// Parsing and receiving tinc hook events.
#include "backends/tinc_events.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <nlohmann/json.hpp>
#include <system_error>

#include "io/unique_fd.hpp"

namespace meshbroker::backends {
namespace {

bool validName(std::string_view text) {
  if (text.empty() || text.size() > 64) return false;
  for (char c : text) {
    bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    if (!ok) return false;
  }
  return true;
}

bool printable(std::string_view text) {
  if (text.size() > 128) return false;
  for (char c : text) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return false;
  }
  return true;
}

}  // namespace

std::string_view toString(TincEventKind kind) {
  switch (kind) {
    case TincEventKind::kTincUp:
      return "tinc-up";
    case TincEventKind::kTincDown:
      return "tinc-down";
    case TincEventKind::kHostUp:
      return "host-up";
    case TincEventKind::kHostDown:
      return "host-down";
    case TincEventKind::kSubnetUp:
      return "subnet-up";
    case TincEventKind::kSubnetDown:
      return "subnet-down";
  }
  return "unknown";
}

std::optional<TincEvent> parseTincEvent(std::string_view datagram, std::string* why) {
  auto fail = [why](std::string message) -> std::optional<TincEvent> {
    if (why) *why = std::move(message);
    return std::nullopt;
  };
  if (datagram.size() > 4096) return fail("event is larger than 4096 bytes");
  auto json = nlohmann::json::parse(datagram, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded() || !json.is_object()) return fail("event is not a JSON object");
  auto text = [&json](const char* key) -> std::optional<std::string> {
    auto it = json.find(key);
    if (it == json.end() || !it->is_string()) return std::nullopt;
    return it->get<std::string>();
  };
  auto name = text("event");
  if (!name) return fail("event has no \"event\" string");
  TincEvent event{};
  bool found = false;
  for (auto kind :
       {TincEventKind::kTincUp, TincEventKind::kTincDown, TincEventKind::kHostUp,
        TincEventKind::kHostDown, TincEventKind::kSubnetUp, TincEventKind::kSubnetDown}) {
    if (*name == toString(kind)) {
      event.kind = kind;
      found = true;
    }
  }
  if (!found) return fail("unknown event \"" + nlohmann::json(*name).dump(-1, ' ', true) + "\"");
  bool about_peer = event.kind != TincEventKind::kTincUp && event.kind != TincEventKind::kTincDown;
  if (about_peer) {
    auto node = text("node");
    if (!node || !validName(*node)) return fail("event has no valid \"node\" name");
    event.node = *node;
  }
  if (auto address = text("remoteaddress")) {
    if (!printable(*address)) return fail("\"remoteaddress\" is not printable text");
    event.remote_address = *address;
  }
  if (auto subnet = text("subnet")) {
    if (!printable(*subnet)) return fail("\"subnet\" is not printable text");
    event.subnet = *subnet;
  }
  return event;
}

TincEventSocket::TincEventSocket(asio::io_context& io, std::string path, Handler on_event,
                                 Logger log)
    : socket_(io), path_(std::move(path)), on_event_(std::move(on_event)), log_(std::move(log)) {}

TincEventSocket::~TincEventSocket() {
  if (socket_.is_open()) ::unlink(path_.c_str());
}

void TincEventSocket::open() {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path_.size() >= sizeof address.sun_path) {
    throw std::system_error(ENAMETOOLONG, std::generic_category(), "socket path " + path_);
  }
  std::strncpy(address.sun_path, path_.c_str(), sizeof address.sun_path - 1);
  io::UniqueFd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) throw std::system_error(errno, std::generic_category(), "socket");
  int on = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_PASSCRED, &on, sizeof on);
  ::unlink(path_.c_str());  // a stale socket from a previous run
  mode_t old_mask = ::umask(0177);
  int rc = ::bind(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address);
  ::umask(old_mask);
  if (rc == 0 && sender_) {
    // Sending needs write permission on the socket file: the sender's group gets it.
    rc = ::chown(path_.c_str(), static_cast<uid_t>(-1), sender_->second);
    if (rc == 0) rc = ::chmod(path_.c_str(), 0660);
  }
  if (rc != 0) {
    int saved = errno;
    throw std::system_error(saved, std::generic_category(), "bind " + path_);
  }
  socket_.assign(fd.release());
  receive();
}

void TincEventSocket::receive() {
  socket_.async_wait(
      asio::posix::stream_descriptor::wait_read, [this](const boost::system::error_code& ec) {
        if (ec) return;
        while (true) {
          std::array<char, 4097> data{};
          alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(ucred))> control{};
          iovec iov{data.data(), data.size()};
          msghdr message{};
          message.msg_iov = &iov;
          message.msg_iovlen = 1;
          message.msg_control = control.data();
          message.msg_controllen = control.size();
          ssize_t n = ::recvmsg(socket_.native_handle(), &message, MSG_DONTWAIT);
          if (n < 0) break;  // EAGAIN: drained
          std::optional<ucred> sender;
          for (cmsghdr* c = CMSG_FIRSTHDR(&message); c; c = CMSG_NXTHDR(&message, c)) {
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
              ucred credentials;
              std::memcpy(&credentials, CMSG_DATA(c), sizeof credentials);
              sender = credentials;
            }
          }
          const bool allowed = sender && (sender->uid == 0 || sender->uid == ::geteuid() ||
                                          (sender_ && sender->uid == sender_->first));
          if (!allowed) {
            log_("tinc events: dropped a datagram from uid " +
                 (sender ? std::to_string(sender->uid) : std::string("unknown")));
            continue;
          }
          std::string why;
          auto event =
              parseTincEvent(std::string_view(data.data(), static_cast<std::size_t>(n)), &why);
          if (!event) {
            log_("tinc events: ignored a malformed event from pid " + std::to_string(sender->pid) +
                 ": " + why);
            continue;
          }
          on_event_(*event);
        }
        receive();
      });
}

}  // namespace meshbroker::backends
