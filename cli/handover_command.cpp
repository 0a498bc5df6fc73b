#include "cli/handover_command.hpp"

#include <chrono>
#include <sstream>
#include <thread>

#include "backends/command.hpp"
#include "backends/process.hpp"
#include "cli/commands.hpp"
#include "model/runtime_layout.hpp"
#include "supervisor/control_socket.hpp"

namespace meshbroker::cli {

namespace {

constexpr auto kExitWait = std::chrono::seconds(15);  // the unit's TimeoutStopSec is 20 s

// Gone or a zombie (exited; its parent has not reaped it yet) both count as exited.
bool alive(pid_t pid) { return backends::processStartTime(pid).has_value(); }

}  // namespace

std::optional<std::string> jobTypeFor(std::string_view list_jobs, std::string_view unit) {
  std::istringstream lines{std::string(list_jobs)};
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream fields(line);
    std::string id;
    std::string name;
    std::string type;
    if (!(fields >> id >> name >> type)) continue;
    if (name == unit) return type;
  }
  return std::nullopt;
}

bool isRestart(std::string_view job_type) {
  return job_type == "restart" || job_type == "try-restart";
}

int runHandover(const std::filesystem::path& config_file,
                const std::optional<std::string>& if_restarting, std::ostream& out,
                std::ostream& err) {
  if (if_restarting) {
    auto jobs = backends::runCommand("/bin/systemctl", {"list-jobs", "--no-legend", "--full"}, "",
                                     std::chrono::seconds(5));
    if (!jobs.ok) {
      err << "handover: cannot ask systemd what it is doing (" << jobs.output
          << "): not handing over; the stop that follows stops tincd and openvpn\n";
      return kExitFailure;
    }
    auto type = jobTypeFor(jobs.output, *if_restarting);
    if (!type || !isRestart(*type)) {
      out << "handover: systemd is not restarting " << *if_restarting << " ("
          << (type ? "its job: " + *type : std::string("no job")) << "): nothing handed over\n";
      return kExitOk;
    }
  }
  auto config = loadConfig(config_file, err, Shown::kErrors);
  if (!config) {
    err << "handover: without the config there is no control socket to find; the stop that "
           "follows stops tincd and openvpn\n";
    return kExitInvalidConfig;
  }
  std::string why;
  auto reply = supervisor::controlRequest(
      model::RuntimeLayout{config->paths.runtime_dir}.controlSocket().string(),
      {{"command", "handover"}}, std::chrono::seconds(5), &why);
  if (!reply) {
    out << "handover: meshbroker is not running (" << why << "): nothing to hand over\n";
    return if_restarting ? kExitOk : kExitFailure;
  }
  if (!reply->value("ok", false) || !reply->contains("pid") ||
      !(*reply)["pid"].is_number_integer()) {
    err << "handover: the daemon refused: " << reply->value("error", reply->dump()) << "\n";
    return kExitFailure;
  }
  const pid_t pid = (*reply)["pid"].get<pid_t>();
  const auto deadline = std::chrono::steady_clock::now() + kExitWait;
  while (pid > 0 && alive(pid) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (pid > 0 && alive(pid)) {
    err << "handover: meshbroker (pid " << pid << ") did not exit within 15 s\n";
    return kExitFailure;
  }
  out << "handover: meshbroker (pid " << pid
      << ") exited; tincd and openvpn keep running for the next meshbroker to adopt\n";
  return kExitOk;
}

}  // namespace meshbroker::cli
