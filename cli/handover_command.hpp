// `meshbroker handover`: a restart or an upgrade that keeps the tunnels up. The running daemon
// exits and leaves tincd, openvpn, their routes and the firewall table to the next one, which
// adopts them. The unit's ExecStop runs it with --if-restarting so `systemctl restart` and a
// package upgrade hand over while `systemctl stop` stops everything.
#pragma once

#include <filesystem>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>

namespace meshbroker::cli {

// The type of the job systemd runs for unit, from `systemctl list-jobs --no-legend` ("ID UNIT
// TYPE STATE" per line); nullopt when it has none. Pure.
std::optional<std::string> jobTypeFor(std::string_view list_jobs, std::string_view unit);
// Whether that job means the unit comes back at once: restart, try-restart (what a package
// upgrade's postinst asks for).
bool isRestart(std::string_view job_type);

// if_restarting: a unit name; hand over only when systemd is restarting it, else do nothing
// (a stop then stops the backends). Waits until the daemon has exited.
int runHandover(const std::filesystem::path& config_file,
                const std::optional<std::string>& if_restarting, std::ostream& out,
                std::ostream& err);

}  // namespace meshbroker::cli
