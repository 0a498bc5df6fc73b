// Child processes: an interface the supervisor drives, and the real one (Boost.Process + pidfd).
#pragma once

#include <sys/types.h>

#include <array>
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "backends/log_follower.hpp"
#include "io/asio.hpp"

namespace meshbroker::backends {

// Variables systemd gives meshbroker's own process, never passed on to a child.
inline constexpr std::array<const char*, 6> kSystemdOwnVariables = {
    "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"};

struct SpawnSpec {
  std::string executable;  // absolute path
  std::vector<std::string> args;
  // Added to meshbroker's environment (minus kSystemdOwnVariables).
  std::vector<std::pair<std::string, std::string>> extra_env;
  // A survivor outlives meshbroker (kill -9, OOM, crash) so the next meshbroker can adopt it
  // and its tunnels never drop: no PR_SET_PDEATHSIG; stdout+stderr appended to log_file
  // (followed by the launcher, kept under 1 MiB) instead of a pipe that would break; its pid
  // and start time in pid_file (removed when it is seen to end). Both paths are required.
  std::filesystem::path pid_file{};
  std::filesystem::path log_file{};
  bool survive_parent = false;
};

struct ExitStatus {
  bool spawned = true;  // false: it could not even be started (reason says why)
  int code = -1;        // exit code when it exited normally
  int signal = 0;       // the signal that killed it, if any
  std::string reason;   // "exited with status 1", "killed by signal 9 (Killed)", ...
};

// A running child. Destroying the handle does not kill the process; the supervisor stops it.
class ChildProcess {
 public:
  virtual ~ChildProcess() = default;
  virtual pid_t pid() const = 0;
  // SIGTERM and SIGKILL go to the child's whole process group (it runs in its own), so its
  // helpers stop too; any other signal (SIGHUP, SIGALRM) goes to the child alone.
  virtual void signal(int sig) = 0;
};

using ExitHandler = std::function<void(const ExitStatus&)>;

class ProcessLauncher {
 public:
  virtual ~ProcessLauncher() = default;
  // Starts spec. Every line it writes to stdout/stderr goes to on_line; on_exit is called once
  // when it has ended and been reaped (also when it could not be spawned at all).
  virtual std::unique_ptr<ChildProcess> spawn(const SpawnSpec& spec, LineHandler on_line,
                                              ExitHandler on_exit) = 0;
  // Takes over a survivor that a previous meshbroker left running (spec.pid_file): only if
  // that process is alive, started when the pid file says (not a recycled pid) and runs
  // exactly spec.executable + spec.args. Its output from now on goes to on_line, its end to
  // on_exit (the status is unknown when it is not our child). Otherwise nullptr, and *why_not
  // says why (empty when there was nothing to adopt). The default adopts nothing.
  virtual std::unique_ptr<ChildProcess> adopt(const SpawnSpec& spec, LineHandler on_line,
                                              ExitHandler on_exit, std::string* why_not);
};

// The real launcher. Children get their own process group, default signal dispositions, stdin
// from /dev/null and no other file descriptors. Ordinary children get SIGTERM when meshbroker
// dies (PR_SET_PDEATHSIG) and stdout+stderr in one pipe; survivors write to their log file,
// followed through inotify. Death is seen through a pidfd on the event loop: no SIGCHLD
// handler, no polling.
struct LogWatcher;

class RealProcessLauncher : public ProcessLauncher {
 public:
  explicit RealProcessLauncher(asio::io_context& io) : io_(io) {}
  ~RealProcessLauncher() override;
  RealProcessLauncher(const RealProcessLauncher&) = delete;
  RealProcessLauncher& operator=(const RealProcessLauncher&) = delete;
  std::unique_ptr<ChildProcess> spawn(const SpawnSpec& spec, LineHandler on_line,
                                      ExitHandler on_exit) override;
  // A matching survivor is adopted. A pid file whose process is gone, or is another process
  // now, is removed. A process that is ours (same pid and start time) but runs another command
  // line (a new tincd path or debug level) is stopped, SIGTERM then SIGKILL, before this
  // returns (blocking, bounded by stop_wait, at start-up only), so the caller can spawn its
  // replacement without the two fighting over the port and the tun device.
  std::unique_ptr<ChildProcess> adopt(const SpawnSpec& spec, LineHandler on_line,
                                      ExitHandler on_exit, std::string* why_not) override;
  void setStopWait(std::chrono::milliseconds wait) { stop_wait_ = wait; }

 private:
  std::shared_ptr<LogWatcher> logWatcher();

  asio::io_context& io_;
  std::chrono::milliseconds stop_wait_{3000};
  std::shared_ptr<LogWatcher> log_watcher_;  // one inotify instance for every log file followed
};

// What a survivor's pid file holds: "PID START_TIME\n", the start time being field 22 of
// /proc/PID/stat (clock ticks since boot), so a recycled pid is never mistaken for ours.
struct PidFileEntry {
  pid_t pid = 0;
  unsigned long long start_time = 0;
};
std::optional<PidFileEntry> parsePidFile(std::string_view text);
// Field 22 of /proc/PID/stat; nullopt when the process is gone or is a zombie.
std::optional<unsigned long long> processStartTime(pid_t pid);
// Whether the process has a handler for sig (its SigCgt mask in /proc/PID/status), so sending
// it does not kill the process: a tincd still starting up dies of a SIGUSR2 it does not catch
// yet. parseCaughtSignals reads that mask from the file's text; nullopt when it is not there.
std::optional<unsigned long long> parseCaughtSignals(std::string_view proc_status);
bool catchesSignal(pid_t pid, int sig);

// All of an open file's bytes, read with read(2); what was read before an error (empty when
// none). /proc/PID files fail with ESRCH when the process exits between open and read: an
// ifstream's filebuf throws std::ios_failure then, whatever its exception mask (found in CI:
// `meshbroker handover` aborted), so /proc is read with this, never with a stream.
std::string readAllOf(int fd);
// readAllOf of a file opened read-only; empty when it cannot be opened.
std::string readProcFile(const std::string& path);

// "exited with status 1" / "killed by signal 9 (Killed)" from a waitpid status.
ExitStatus describeWaitStatus(int wait_status);

}  // namespace meshbroker::backends
