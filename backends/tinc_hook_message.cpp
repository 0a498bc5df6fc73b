#include "backends/tinc_hook_message.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "model/runtime_layout.hpp"

namespace meshbroker::backends {

namespace {

void appendJsonString(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (byte < 0x20 || byte == 0x7f) {
      out += "\\u00";
      out += kHex[byte >> 4];
      out += kHex[byte & 0xf];
    } else if (byte >= 0x80) {
      out += "\\ufffd";
    } else {
      out += c;
    }
  }
  out += '"';
}

}  // namespace

bool isTincHookEvent(std::string_view event) {
  for (const char* known :
       {"tinc-up", "tinc-down", "host-up", "host-down", "subnet-up", "subnet-down"}) {
    if (event == known) return true;
  }
  return false;
}

std::string tincHookMessage(std::string_view event,
                            const std::function<const char*(const char*)>& env) {
  std::string out = "{\"event\":";
  appendJsonString(out, event);
  static constexpr std::array<std::pair<const char*, const char*>, 8> kVariables{{
      {"NETNAME", "netname"},
      {"NAME", "name"},
      {"NODE", "node"},
      {"REMOTEADDRESS", "remoteaddress"},
      {"REMOTEPORT", "remoteport"},
      {"SUBNET", "subnet"},
      {"INTERFACE", "interface"},
      {"WEIGHT", "weight"},
  }};
  for (const auto& [variable, key] : kVariables) {
    const char* value = env(variable);
    if (!value) continue;
    out += ',';
    appendJsonString(out, key);
    out += ':';
    appendJsonString(out, value);
  }
  out += '}';
  return out;
}

HookSendResult sendTincHookMessage(const std::filesystem::path& socket, std::string_view message) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  const std::string path = socket.string();
  if (path.size() >= sizeof address.sun_path) {
    return {HookSend::kPathTooLong, "socket path too long: " + path};
  }
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return {HookSend::kFailed, std::string("socket: ") + std::strerror(errno)};
  const ssize_t sent = ::sendto(fd, message.data(), message.size(), 0,
                                reinterpret_cast<const sockaddr*>(&address), sizeof address);
  const int saved = errno;
  ::close(fd);
  if (sent >= 0) return {};
  if (saved == ENOENT || saved == ECONNREFUSED) return {HookSend::kNoDaemon, ""};
  return {HookSend::kFailed, path + ": " + std::strerror(saved)};
}

HookSendResult notifyDaemon(std::string_view event, const std::filesystem::path& runtime_dir) {
  return sendTincHookMessage(
      model::RuntimeLayout{runtime_dir}.tincEvents(),
      tincHookMessage(event, [](const char* name) { return std::getenv(name); }));
}

}  // namespace meshbroker::backends
