// Child processes: an interface the supervisor drives, and the real one (Boost.Process + pidfd).
#pragma once

#include <sys/types.h>

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "io/asio.hpp"

namespace meshbroker::backends {

struct SpawnSpec {
  std::string executable;  // absolute path
  std::vector<std::string> args;
  std::vector<std::pair<std::string, std::string>> extra_env;
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

using LineHandler = std::function<void(std::string_view line)>;
using ExitHandler = std::function<void(const ExitStatus&)>;

class ProcessLauncher {
 public:
  virtual ~ProcessLauncher() = default;
  // Starts spec. Every line it writes to stdout/stderr goes to on_line; on_exit is called once
  // when it has ended and been reaped (also when it could not be spawned at all).
  virtual std::unique_ptr<ChildProcess> spawn(const SpawnSpec& spec, LineHandler on_line,
                                              ExitHandler on_exit) = 0;
};

// The real launcher. Children get their own process group, default signal dispositions,
// SIGTERM when meshbroker dies (PR_SET_PDEATHSIG), stdin from /dev/null, stdout+stderr into one
// pipe, and no other file descriptors. Death is seen through a pidfd on the event loop: no
// SIGCHLD handler, no polling.
class RealProcessLauncher : public ProcessLauncher {
 public:
  explicit RealProcessLauncher(asio::io_context& io) : io_(io) {}
  std::unique_ptr<ChildProcess> spawn(const SpawnSpec& spec, LineHandler on_line,
                                      ExitHandler on_exit) override;

 private:
  asio::io_context& io_;
};

// "exited with status 1" / "killed by signal 9 (Killed)" from a waitpid status.
ExitStatus describeWaitStatus(int wait_status);

}  // namespace meshbroker::backends
