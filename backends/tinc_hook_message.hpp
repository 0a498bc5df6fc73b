// What tinc's hook scripts tell the daemon (the sending side of tinc_events.hpp): the datagram
// for one event, built from tinc's environment, and sending it to the daemon's event socket.
// Depends on nothing but the C++ and POSIX libraries, so meshbroker-notify (cli/notify_main.cpp)
// is a small program that starts in well under a millisecond: tincd 1.0 waits for each hook, and
// forwards no packet meanwhile.
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <string_view>

namespace meshbroker::backends {

// The events tinc runs hooks for: tinc-up, tinc-down, host-up, host-down, subnet-up, subnet-down.
bool isTincHookEvent(std::string_view event);

// One JSON object: {"event": EVENT, "netname": ..., "node": ..., ...} with each of tinc's
// variables (NETNAME NAME NODE REMOTEADDRESS REMOTEPORT SUBNET INTERFACE WEIGHT) that `env` has,
// keys in lower case. A byte that is not printable ASCII is written as \u00XX (control) or
// \ufffd (non-ASCII): no value can end its string or add a field. `env` is getenv in the hooks.
std::string tincHookMessage(std::string_view event,
                            const std::function<const char*(const char*)>& env);

enum class HookSend {
  kSent,
  kNoDaemon,     // nothing listens (tincd by hand, a daemon restarting): normal, quiet
  kPathTooLong,  // the socket's path does not fit a sockaddr_un
  kFailed,
};
struct HookSendResult {
  HookSend outcome = HookSend::kSent;
  std::string error;  // kPathTooLong, kFailed: what to print
};

// Sends `message` as one datagram to `socket` without blocking.
HookSendResult sendTincHookMessage(const std::filesystem::path& socket, std::string_view message);

// What a hook does: the message for `event` from this process's environment, sent to the event
// socket of the daemon whose runtime folder is `runtime_dir`. (`meshbroker notify` and
// meshbroker-notify both.)
HookSendResult notifyDaemon(std::string_view event, const std::filesystem::path& runtime_dir);

}  // namespace meshbroker::backends
