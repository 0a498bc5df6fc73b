// RealProcessLauncher: Boost.Process spawns; a pidfd on the event loop reports the death.
#include "backends/process.hpp"

#include <linux/close_range.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <boost/process.hpp>
#include <boost/process/extend.hpp>
#include <cstring>

namespace meshbroker::backends {
namespace {

namespace bp = boost::process;
constexpr std::size_t kMaxLine = 4096;

// State shared by the handle and the pending handlers, so handlers outlive the handle.
struct Shared {
  Shared(asio::io_context& io) : pipe(io), pidfd(io) {}
  bp::async_pipe pipe;
  asio::posix::stream_descriptor pidfd;
  pid_t pid = -1;
  bool reaped = false;
  LineHandler on_line;
  ExitHandler on_exit;
  std::array<char, 4096> chunk{};
  std::string partial;
};

void readLines(const std::shared_ptr<Shared>& shared) {
  shared->pipe.async_read_some(
      asio::buffer(shared->chunk), [shared](const boost::system::error_code& ec, std::size_t n) {
        std::string_view data(shared->chunk.data(), n);
        while (!data.empty()) {
          auto newline = data.find('\n');
          if (newline == std::string_view::npos) {
            shared->partial.append(data);
            break;
          }
          shared->partial.append(data.substr(0, newline));
          if (shared->on_line) shared->on_line(shared->partial);
          shared->partial.clear();
          data.remove_prefix(newline + 1);
        }
        if (shared->partial.size() >= kMaxLine) {  // a runaway line: cut it, keep reading
          if (shared->on_line) shared->on_line(shared->partial);
          shared->partial.clear();
        }
        if (ec) {  // EOF: every writer is gone
          if (!shared->partial.empty() && shared->on_line) shared->on_line(shared->partial);
          shared->partial.clear();
          return;
        }
        readLines(shared);
      });
}

void waitForExit(const std::shared_ptr<Shared>& shared) {
  shared->pidfd.async_wait(
      asio::posix::stream_descriptor::wait_read, [shared](const boost::system::error_code& ec) {
        if (ec == asio::error::operation_aborted) return;
        int status = 0;
        pid_t r;
        do {
          r = ::waitpid(shared->pid, &status, 0);
        } while (r < 0 && errno == EINTR);
        shared->reaped = true;
        boost::system::error_code ignored;
        shared->pidfd.close(ignored);
        ExitStatus exit =
            r == shared->pid ? describeWaitStatus(status) : ExitStatus{true, -1, 0, "vanished"};
        if (shared->on_exit) shared->on_exit(exit);
      });
}

class RealChild : public ChildProcess {
 public:
  explicit RealChild(std::shared_ptr<Shared> shared) : shared_(std::move(shared)) {}
  pid_t pid() const override { return shared_->pid; }
  void signal(int sig) override {
    if (shared_->reaped || shared_->pid <= 0) return;  // never signal a recycled pid
    // Stopping takes the whole group (hook scripts too); other signals are requests to the
    // backend itself: a SIGALRM or SIGHUP sent to the group would kill tinc's running hooks.
    if (sig == SIGTERM || sig == SIGKILL) {
      if (::kill(-shared_->pid, sig) == 0) return;
    }
    ::kill(shared_->pid, sig);
  }

 private:
  std::shared_ptr<Shared> shared_;
};

// Runs in the child between fork and exec.
void childSetup() {
  // Everything but stdin/stdout/stderr closes at exec. (Boost 1.74's limit_handles also closes
  // the async pipe we redirect into; marking close-on-exec keeps Boost's own exec-error pipe.)
  ::syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC);
  ::setpgid(0, 0);
  ::prctl(PR_SET_PDEATHSIG, SIGTERM);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig != SIGKILL && sig != SIGSTOP) ::signal(sig, SIG_DFL);
  }
}

}  // namespace

ExitStatus describeWaitStatus(int wait_status) {
  ExitStatus exit;
  if (WIFEXITED(wait_status)) {
    exit.code = WEXITSTATUS(wait_status);
    exit.reason = "exited with status " + std::to_string(exit.code);
  } else if (WIFSIGNALED(wait_status)) {
    exit.signal = WTERMSIG(wait_status);
    const char* name = ::strsignal(exit.signal);
    exit.reason = "killed by signal " + std::to_string(exit.signal) +
                  (name ? std::string(" (") + name + ")" : std::string());
  } else {
    exit.reason = "ended (wait status " + std::to_string(wait_status) + ")";
  }
  return exit;
}

std::unique_ptr<ChildProcess> RealProcessLauncher::spawn(const SpawnSpec& spec, LineHandler on_line,
                                                         ExitHandler on_exit) {
  auto shared = std::make_shared<Shared>(io_);
  shared->on_line = std::move(on_line);
  shared->on_exit = std::move(on_exit);
  auto env = boost::this_process::environment();
  bp::environment child_env = env;
  for (const auto& [key, value] : spec.extra_env) child_env[key] = value;

  std::error_code ec;
  bp::child child(bp::exe = spec.executable, bp::args = spec.args,
                  bp::std_in<bp::null, (bp::std_out & bp::std_err)> shared->pipe, child_env,
                  bp::extend::on_exec_setup([](auto&) { childSetup(); }), ec);
  if (ec || !child.valid()) {
    asio::post(io_, [shared, message = ec.message(), exe = spec.executable] {
      if (shared->on_exit) shared->on_exit({false, -1, 0, "cannot start " + exe + ": " + message});
    });
    shared->reaped = true;
    return std::make_unique<RealChild>(shared);
  }
  shared->pid = child.id();
  child.detach();  // we reap it ourselves through the pidfd

  int fd = static_cast<int>(::syscall(SYS_pidfd_open, shared->pid, 0));
  if (fd < 0) {
    // No pidfd (very old kernel): fall back to a blocking wait would stall the loop, so refuse.
    ::kill(-shared->pid, SIGKILL);
    ::waitpid(shared->pid, nullptr, 0);
    shared->reaped = true;
    asio::post(io_, [shared, message = std::string(std::strerror(errno))] {
      if (shared->on_exit) shared->on_exit({false, -1, 0, "pidfd_open failed: " + message});
    });
    return std::make_unique<RealChild>(shared);
  }
  shared->pidfd.assign(fd);
  readLines(shared);
  waitForExit(shared);
  return std::make_unique<RealChild>(shared);
}

}  // namespace meshbroker::backends
