// The two pieces of systemd's service protocol meshbroker uses, without libsystemd: status
// datagrams to $NOTIFY_SOCKET (READY=1, STATUS=..., WATCHDOG=1, STOPPING=1) and the watchdog
// period from $WATCHDOG_USEC/$WATCHDOG_PID. Both are documented as stable interfaces in
// sd_notify(3) and sd_watchdog_enabled(3) ("Interface Portability and Stability").
//
// (libsystemd did this before. It drags libgcrypt, libgpg-error, liblz4, libzstd, liblzma and
// libcap into every meshbroker process: ~1 MB of RSS for one sendmsg(), in a daemon that has
// to stay near tincd's size on a gateway router.)
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>

namespace meshbroker::supervisor {

// Where $NOTIFY_SOCKET points, as sockaddr_un's sun_path bytes: a path ("/run/systemd/notify")
// or an abstract name ("@name" becomes "\0name"). nullopt when unset, empty, relative, or too
// long for sun_path. Pure.
std::optional<std::string> notifySocketPath(const char* value);

// The watchdog period systemd expects pings within, from the values of $WATCHDOG_USEC and
// $WATCHDOG_PID: nullopt when unset, not a positive number, or meant for another process
// (WATCHDOG_PID set and not `self`). Pure.
std::optional<std::chrono::microseconds> watchdogPeriod(const char* usec, const char* pid,
                                                        pid_t self);

// Sends `state` (newline-separated VAR=value lines) to $NOTIFY_SOCKET. Returns false when there
// is no such socket or the send fails; never blocks (a full socket buffer drops the message,
// as sd_notify does) and never throws.
bool notifySystemd(const std::string& state);

// watchdogPeriod() of this process's environment.
std::optional<std::chrono::microseconds> systemdWatchdogPeriod();

}  // namespace meshbroker::supervisor
