// RealProcessLauncher: Boost.Process spawns; a pidfd on the event loop reports the death;
// survivors' output is followed in their log file, their pid kept in a pid file for adoption.
// Why ~600 lines: spawning and adopting must agree exactly on what identifies a survivor (pid
// file, start time, executable and arguments); both sides live here so that agreement is seen.
#include "backends/process.hpp"

#include <fcntl.h>
#include <linux/close_range.h>
#include <poll.h>
#include <signal.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <boost/process.hpp>
#include <boost/process/extend.hpp>
#include <charconv>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <sstream>

#include "backends/reap_failed_exec.hpp"
#include "io/unique_fd.hpp"

namespace meshbroker::backends {
namespace {
struct Shared;
void drainLog(const std::shared_ptr<Shared>& shared);
}  // namespace

// One inotify instance for every log file a launcher follows, each file a watch. (Closing an
// inotify descriptor waits for an RCU grace period, ~10 ms here: one per child would stall
// every restart of a crashed backend. Removing a watch is cheap.)
struct LogWatcher : std::enable_shared_from_this<LogWatcher> {
  explicit LogWatcher(asio::io_context& io) : fd(io) {}
  void wait() {
    fd.async_wait(asio::posix::stream_descriptor::wait_read,
                  [self = shared_from_this()](const boost::system::error_code& ec) {
                    if (!ec) self->onEvents();
                  });
  }
  void onEvents() {
    alignas(inotify_event) std::array<char, 4096> buffer;
    std::set<int> grown;
    ssize_t n;
    while ((n = ::read(fd.native_handle(), buffer.data(), buffer.size())) > 0) {
      for (ssize_t at = 0; at + static_cast<ssize_t>(sizeof(inotify_event)) <= n;) {
        const auto* event = reinterpret_cast<const inotify_event*>(buffer.data() + at);
        if (event->mask & IN_IGNORED) {
          followers.erase(event->wd);  // the file is gone
        } else {
          grown.insert(event->wd);
        }
        at += static_cast<ssize_t>(sizeof(inotify_event) + event->len);
      }
    }
    for (int watch : grown) {
      auto it = followers.find(watch);
      if (it == followers.end()) continue;
      auto list = it->second;  // drainLog may end a follower and change the map
      for (const auto& weak : list) {
        if (auto shared = weak.lock()) drainLog(shared);
      }
    }
    wait();
  }
  void forget(int watch, const void* follower) {
    auto it = followers.find(watch);
    if (it == followers.end()) return;
    std::erase_if(it->second, [follower](const auto& weak) {
      auto shared = weak.lock();
      return !shared || static_cast<const void*>(shared.get()) == follower;
    });
    if (it->second.empty()) {
      ::inotify_rm_watch(fd.native_handle(), watch);
      followers.erase(it);
    }
  }

  asio::posix::stream_descriptor fd;
  std::map<int, std::vector<std::weak_ptr<Shared>>> followers;  // by watch descriptor
};

namespace {

namespace bp = boost::process;
namespace fs = std::filesystem;
constexpr off_t kMaxLogBytes = 1 << 20;   // a survivor's log file is emptied past this size
constexpr int kMaxChunksPerWakeup = 256;  // then yield to the loop; the rest comes next turn
constexpr idtype_t kPidfdIdType = static_cast<idtype_t>(3);  // P_PIDFD (Linux 5.4)

// State shared by the handle and the pending handlers, so handlers outlive the handle.
struct Shared {
  explicit Shared(asio::io_context& io)
      : pidfd(io), pipe_lines([this](std::string_view line) {
          if (on_line) on_line(line);
        }) {}
  Shared(const Shared&) = delete;
  Shared& operator=(const Shared&) = delete;

  std::optional<bp::async_pipe> pipe;  // ordinary children: their stdout+stderr
  asio::posix::stream_descriptor pidfd;
  std::weak_ptr<LogWatcher> watcher;  // survivors: says when their log file grew
  int watch = -1;                     // its inotify watch descriptor
  std::optional<LogFollower> log;     // survivors: their log file
  fs::path pid_file;
  pid_t pid = -1;
  bool adopted = false;  // started by a previous meshbroker: maybe not our child
  bool reaped = false;
  LineHandler on_line;
  ExitHandler on_exit;
  std::array<char, 4096> chunk{};
  LineSplitter pipe_lines;
};

void emit(Shared& shared, std::string_view line) {
  if (shared.on_line) shared.on_line(line);
}

void readLines(const std::shared_ptr<Shared>& shared) {
  shared->pipe->async_read_some(
      asio::buffer(shared->chunk), [shared](const boost::system::error_code& ec, std::size_t n) {
        shared->pipe_lines.feed(std::string_view(shared->chunk.data(), n));
        if (ec) {  // EOF: every writer is gone
          shared->pipe_lines.flush();
          return;
        }
        readLines(shared);
      });
}

// A survivor's log file as LogFollower reads and empties it.
class DescriptorFile : public FollowedFile {
 public:
  explicit DescriptorFile(io::UniqueFd fd) : fd_(std::move(fd)) {}
  ssize_t readAt(off_t offset, std::span<char> into) override {
    return ::pread(fd_.get(), into.data(), into.size(), offset);
  }
  off_t size() override {
    struct stat st {};
    return ::fstat(fd_.get(), &st) == 0 ? st.st_size : -1;
  }
  bool truncate() override { return ::ftruncate(fd_.get(), 0) == 0; }

 private:
  io::UniqueFd fd_;
};

// Reads what a survivor appended since the last call, a bounded amount per turn of the loop.
// Past kMaxLogBytes the follower empties the file (between lines): the child writes with
// O_APPEND, so it just goes on at the new end.
void drainLog(const std::shared_ptr<Shared>& shared) {
  if (!shared->log || shared->log->drain(kMaxChunksPerWakeup)) return;
  asio::post(shared->pidfd.get_executor(), [shared] { drainLog(shared); });
}

// Follows log_file from its current end: the watcher says when something was appended.
std::string followLog(const std::shared_ptr<Shared>& shared, const fs::path& log_file,
                      const std::shared_ptr<LogWatcher>& watcher) {
  io::UniqueFd fd(::open(log_file.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) return "cannot open " + log_file.string() + ": " + std::strerror(errno);
  shared->log.emplace(std::make_unique<DescriptorFile>(std::move(fd)), kMaxLogBytes,
                      [raw = shared.get()](std::string_view line) { emit(*raw, line); });
  if (!watcher) return "cannot watch " + log_file.string() + " (inotify_init1 failed)";
  int watch = ::inotify_add_watch(watcher->fd.native_handle(), log_file.c_str(), IN_MODIFY);
  if (watch < 0) return "inotify_add_watch " + log_file.string() + ": " + std::strerror(errno);
  shared->watcher = watcher;
  shared->watch = watch;
  watcher->followers[watch].push_back(shared);
  return "";
}

void stopFollowing(Shared& shared) {
  if (auto watcher = shared.watcher.lock(); watcher && shared.watch >= 0) {
    watcher->forget(shared.watch, &shared);
  }
  shared.watcher.reset();
  shared.watch = -1;
  shared.log.reset();
}

std::optional<PidFileEntry> readPidFile(const fs::path& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return parsePidFile(text);
}

// A pid file is removed only while it still names this process (a replacement may own it).
void removePidFileOf(const fs::path& path, pid_t pid) {
  if (path.empty()) return;
  auto entry = readPidFile(path);
  std::error_code ignored;
  if (entry && entry->pid == pid) fs::remove(path, ignored);
}

ExitStatus fromSiginfo(const siginfo_t& info) {
  if (info.si_code == CLD_EXITED) return describeWaitStatus((info.si_status & 0xff) << 8);
  return describeWaitStatus(info.si_status & 0x7f);
}

// After the pidfd said the process ended: its exit status, reaping it if it is our child.
ExitStatus reap(Shared& shared) {
  if (shared.adopted) {
    // Reparented to init or a subreaper when its meshbroker died: only that one may reap it
    // and learn the status. (It may still be ours, e.g. in a test: then reap it.)
    siginfo_t info{};
    if (::waitid(kPidfdIdType, static_cast<id_t>(shared.pidfd.native_handle()), &info,
                 WEXITED | WNOHANG) == 0 &&
        info.si_pid == shared.pid) {
      return fromSiginfo(info);
    }
    return {true, -1, 0, "exited (adopted; exit status unknown)"};
  }
  int status = 0;
  pid_t r;
  do {
    r = ::waitpid(shared.pid, &status, 0);
  } while (r < 0 && errno == EINTR);
  return r == shared.pid ? describeWaitStatus(status) : ExitStatus{true, -1, 0, "vanished"};
}

void waitForExit(const std::shared_ptr<Shared>& shared) {
  shared->pidfd.async_wait(asio::posix::stream_descriptor::wait_read,
                           [shared](const boost::system::error_code& ec) {
                             if (ec == asio::error::operation_aborted) return;
                             ExitStatus exit = reap(*shared);
                             shared->reaped = true;
                             boost::system::error_code ignored;
                             shared->pidfd.close(ignored);
                             if (shared->log) {  // its last words come before its exit
                               drainLog(shared);
                               shared->log->flush();
                               stopFollowing(*shared);
                             }
                             removePidFileOf(shared->pid_file, shared->pid);
                             if (shared->on_exit) shared->on_exit(exit);
                           });
}

int pidfdSendSignal(int pidfd, int sig) {
  return static_cast<int>(::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0));
}

class RealChild : public ChildProcess {
 public:
  explicit RealChild(std::shared_ptr<Shared> shared) : shared_(std::move(shared)) {}
  pid_t pid() const override { return shared_->pid; }
  void signal(int sig) override {
    if (shared_->reaped || shared_->pid <= 0) return;  // never signal a recycled pid
    bool group = sig == SIGTERM || sig == SIGKILL;
    if (shared_->adopted) {
      // Not a zombie we hold: once it ends init may reap it and recycle the pid. The pidfd
      // still names this very process; its group goes only while it is alive.
      if (pidfdSendSignal(shared_->pidfd.native_handle(), sig) == 0 && group) {
        ::kill(-shared_->pid, sig);
      }
      return;
    }
    // Stopping takes the whole group (hook scripts too); other signals are requests to the
    // backend itself: a SIGALRM or SIGHUP sent to the group would kill tinc's running hooks.
    if (group && ::kill(-shared_->pid, sig) == 0) return;
    ::kill(shared_->pid, sig);
  }

 private:
  std::shared_ptr<Shared> shared_;
};

// Runs in the child between fork and exec.
void childSetup(bool die_with_parent) {
  // Everything but stdin/stdout/stderr closes at exec. (Boost 1.74's limit_handles also closes
  // the async pipe we redirect into; marking close-on-exec keeps Boost's own exec-error pipe.)
  ::syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC);
  ::setpgid(0, 0);
  if (die_with_parent) ::prctl(PR_SET_PDEATHSIG, SIGTERM);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig != SIGKILL && sig != SIGSTOP) ::signal(sig, SIG_DFL);
  }
}

std::string joined(const std::vector<std::string>& words) {
  std::string out;
  for (const auto& word : words) out += (out.empty() ? "" : " ") + word;
  return out;
}

std::vector<std::string> commandLine(pid_t pid) {
  const std::string text = readProcFile("/proc/" + std::to_string(pid) + "/cmdline");
  std::vector<std::string> words;
  std::size_t begin = 0;
  while (begin < text.size()) {
    auto end = text.find('\0', begin);
    if (end == std::string::npos) end = text.size();
    words.push_back(text.substr(begin, end - begin));
    begin = end + 1;
  }
  return words;
}

// Stops a process a previous meshbroker started with another command line, so that its
// replacement does not find the port and the tun device taken: SIGTERM, then SIGKILL.
void stopOutdated(int pidfd, pid_t pid, std::chrono::milliseconds wait) {
  for (int sig : {SIGTERM, SIGKILL}) {
    if (pidfdSendSignal(pidfd, sig) != 0) break;  // already gone
    ::kill(-pid, sig);
    pollfd ready{pidfd, POLLIN, 0};
    if (::poll(&ready, 1, static_cast<int>(wait.count())) > 0) break;
  }
  siginfo_t info{};
  ::waitid(kPidfdIdType, static_cast<id_t>(pidfd), &info, WEXITED | WNOHANG);  // if ours
}

// Like io::writeFileAtomically (temp file, then rename: a reader never sees half of it) but
// without fsync: the pid file lives in /run, means nothing after a reboot, and an fsync on a
// disk would cost ~10 ms of every restart of a crashed backend. Returns an error or "".
std::string writePidFile(const fs::path& path, const std::string& content) {
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  fs::path temp = path;
  temp += ".tmp-" + std::to_string(::getpid());
  io::UniqueFd fd(
      ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644));
  if (!fd) return "cannot create " + temp.string() + ": " + std::strerror(errno);
  bool ok = ::fchmod(fd.get(), 0644) == 0 && ::write(fd.get(), content.data(), content.size()) ==
                                                 static_cast<ssize_t>(content.size());
  std::string error = ok ? "" : "cannot write " + temp.string() + ": " + std::strerror(errno);
  fd.reset();  // closed before the rename, as io::writeFileAtomically does
  if (ok && ::rename(temp.c_str(), path.c_str()) != 0) {
    error = "cannot rename " + temp.string() + ": " + std::strerror(errno);
  }
  if (!error.empty()) ::unlink(temp.c_str());
  return error;
}

}  // namespace

std::string readAllOf(int fd) {
  std::string out;
  std::array<char, 4096> buffer{};
  while (true) {
    const ssize_t n = ::read(fd, buffer.data(), buffer.size());
    if (n > 0) {
      out.append(buffer.data(), static_cast<std::size_t>(n));
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      return out;  // end of file, or an error (ESRCH: the process is gone)
    }
  }
}

std::string readProcFile(const std::string& path) {
  io::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  return fd ? readAllOf(fd.get()) : std::string();
}

std::optional<PidFileEntry> parsePidFile(std::string_view text) {
  PidFileEntry entry;
  const char* p = text.data();
  const char* end = text.data() + text.size();
  auto [after_pid, pid_error] = std::from_chars(p, end, entry.pid);
  if (pid_error != std::errc() || entry.pid <= 0 || after_pid == end || *after_pid != ' ') {
    return std::nullopt;
  }
  auto [after_start, start_error] = std::from_chars(after_pid + 1, end, entry.start_time);
  if (start_error != std::errc() || after_start == after_pid + 1) return std::nullopt;
  std::string_view rest(after_start, static_cast<std::size_t>(end - after_start));
  if (rest != "\n" && !rest.empty()) return std::nullopt;
  return entry;
}

std::optional<unsigned long long> processStartTime(pid_t pid) {
  const std::string text = readProcFile("/proc/" + std::to_string(pid) + "/stat");
  // "PID (comm) STATE PPID ...": comm may hold spaces and parentheses; fields after the last
  // ')' are plain. STATE is field 3, the start time field 22.
  auto close = text.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream fields(text.substr(close + 1));
  std::string field;
  for (int number = 3; fields >> field; ++number) {
    if (number == 3 && (field == "Z" || field == "X" || field == "x")) return std::nullopt;
    if (number == 22) {
      unsigned long long value = 0;
      auto [ptr, error] = std::from_chars(field.data(), field.data() + field.size(), value);
      if (error != std::errc() || ptr != field.data() + field.size()) return std::nullopt;
      return value;
    }
  }
  return std::nullopt;
}

std::optional<unsigned long long> parseCaughtSignals(std::string_view proc_status) {
  constexpr std::string_view kField = "\nSigCgt:";
  auto at = proc_status.find(kField);
  if (at == std::string_view::npos) return std::nullopt;
  std::string_view rest = proc_status.substr(at + kField.size());
  while (!rest.empty() && (rest.front() == '\t' || rest.front() == ' ')) rest.remove_prefix(1);
  rest = rest.substr(0, rest.find('\n'));
  unsigned long long mask = 0;
  auto [end, error] = std::from_chars(rest.data(), rest.data() + rest.size(), mask, 16);
  if (error != std::errc() || end != rest.data() + rest.size() || rest.empty()) {
    return std::nullopt;
  }
  return mask;
}

bool catchesSignal(pid_t pid, int sig) {
  if (sig < 1 || sig > 64) return false;
  const std::string text = readProcFile("/proc/" + std::to_string(pid) + "/status");
  auto mask = parseCaughtSignals(text);
  return mask && (*mask >> (sig - 1) & 1U) != 0;
}

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

std::unique_ptr<ChildProcess> ProcessLauncher::adopt(const SpawnSpec&, LineHandler, ExitHandler,
                                                     std::string* why_not) {
  if (why_not) why_not->clear();
  return nullptr;
}

RealProcessLauncher::~RealProcessLauncher() {
  if (log_watcher_) {
    boost::system::error_code ignored;
    log_watcher_->fd.close(ignored);  // ends its pending wait
  }
}

std::shared_ptr<LogWatcher> RealProcessLauncher::logWatcher() {
  if (!log_watcher_) {
    io::UniqueFd fd(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
    if (!fd) return nullptr;
    log_watcher_ = std::make_shared<LogWatcher>(io_);
    log_watcher_->fd.assign(fd.release());
    log_watcher_->wait();
  }
  return log_watcher_;
}

std::unique_ptr<ChildProcess> RealProcessLauncher::spawn(const SpawnSpec& spec, LineHandler on_line,
                                                         ExitHandler on_exit) {
  auto shared = std::make_shared<Shared>(io_);
  shared->on_line = std::move(on_line);
  shared->on_exit = std::move(on_exit);
  auto cannotStart = [&](const std::string& message) {
    stopFollowing(*shared);
    shared->reaped = true;
    asio::post(io_, [shared, message] {
      if (shared->on_exit) shared->on_exit({false, -1, 0, message});
    });
    return std::make_unique<RealChild>(shared);
  };
  auto env = boost::this_process::environment();
  bp::environment child_env = env;
  // systemd's per-process variables are meant for meshbroker alone: a child that inherited
  // NOTIFY_SOCKET could tell systemd "READY=1" or "STOPPING=1" for the whole unit (openvpn
  // 2.6 does sd_notify), and WATCHDOG_*/LISTEN_* name our PID and our sockets.
  for (const char* name : kSystemdOwnVariables) {
    if (child_env.find(name) != child_env.end()) child_env.erase(name);
  }
  for (const auto& [key, value] : spec.extra_env) child_env[key] = value;

  auto reap_failed_exec = reapFailedExec();
  std::error_code ec;
  bp::child child;
  if (spec.survive_parent) {
    // The child appends to the log file itself: no pipe that breaks when meshbroker dies.
    std::error_code dir_ec;
    fs::create_directories(spec.log_file.parent_path(), dir_ec);
    // Closed here when the block ends; the child has its own copy (dup2 in on_exec_setup).
    io::UniqueFd log(::open(spec.log_file.c_str(),
                            O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640));
    if (!log) {
      return cannotStart("cannot start " + spec.executable + ": cannot open " +
                         spec.log_file.string() + ": " + std::strerror(errno));
    }
    if (auto error = followLog(shared, spec.log_file, logWatcher()); !error.empty()) {
      return cannotStart("cannot start " + spec.executable + ": " + error);
    }
    shared->pid_file = spec.pid_file;
    child = bp::child(bp::exe = spec.executable, bp::args = spec.args, bp::std_in < bp::null,
                      child_env, bp::extend::on_exec_setup([log_fd = log.get()](auto&) {
                        childSetup(false);
                        ::dup2(log_fd, STDOUT_FILENO);
                        ::dup2(log_fd, STDERR_FILENO);
                      }),
                      reap_failed_exec, ec);
  } else {
    auto& pipe = shared->pipe.emplace(io_);
    child =
        bp::child(bp::exe = spec.executable, bp::args = spec.args,
                  bp::std_in<bp::null, (bp::std_out & bp::std_err)> pipe, child_env,
                  bp::extend::on_exec_setup([](auto&) { childSetup(true); }), reap_failed_exec, ec);
  }
  if (ec || !child.valid())
    return cannotStart("cannot start " + spec.executable + ": " + ec.message());
  shared->pid = child.id();
  child.detach();  // we reap it ourselves through the pidfd

  int fd = static_cast<int>(::syscall(SYS_pidfd_open, shared->pid, 0));
  if (fd < 0) {
    // No pidfd (very old kernel): fall back to a blocking wait would stall the loop, so refuse.
    std::string message = std::string("pidfd_open failed: ") + std::strerror(errno);
    ::kill(-shared->pid, SIGKILL);
    ::waitpid(shared->pid, nullptr, 0);
    shared->pid = -1;
    return cannotStart(message);
  }
  shared->pidfd.assign(fd);
  if (spec.survive_parent) {
    // Written after the fork: the start time is the forked process's, which exec keeps.
    std::string error;
    if (auto start = processStartTime(shared->pid)) {
      error = writePidFile(spec.pid_file,
                           std::to_string(shared->pid) + " " + std::to_string(*start) + "\n");
    }
    if (!error.empty()) {
      asio::post(io_, [shared, error] {
        emit(*shared, "meshbroker: " + error + " (a restarted meshbroker cannot adopt it)");
      });
    }
  } else {
    readLines(shared);
  }
  waitForExit(shared);
  return std::make_unique<RealChild>(shared);
}

std::unique_ptr<ChildProcess> RealProcessLauncher::adopt(const SpawnSpec& spec, LineHandler on_line,
                                                         ExitHandler on_exit,
                                                         std::string* why_not) {
  if (why_not) why_not->clear();
  if (!spec.survive_parent || spec.pid_file.empty()) return nullptr;
  std::error_code exists_ec;
  if (!fs::exists(spec.pid_file, exists_ec)) return nullptr;  // it was stopped, or never ran
  const std::string where = spec.pid_file.string();
  auto refuse = [&](const std::string& reason) -> std::unique_ptr<ChildProcess> {
    std::error_code ignored;
    fs::remove(spec.pid_file, ignored);
    if (why_not) *why_not = reason + "; removed " + where;
    return nullptr;
  };
  auto entry = readPidFile(spec.pid_file);
  if (!entry) return refuse(where + " does not hold \"PID START_TIME\"");
  const std::string pid_text = "pid " + std::to_string(entry->pid) + " from " + where;
  auto start = processStartTime(entry->pid);
  if (!start) return refuse(pid_text + " is gone");
  auto recycled = [&](unsigned long long seen) {
    return refuse(pid_text + " is another process now (started at tick " + std::to_string(seen) +
                  ", not " + std::to_string(entry->start_time) + ")");
  };
  if (*start != entry->start_time) return recycled(*start);
  io::UniqueFd fd(static_cast<int>(::syscall(SYS_pidfd_open, entry->pid, 0)));
  if (!fd) {
    if (errno == ESRCH) return refuse(pid_text + " is gone");
    if (why_not)
      *why_not = "pidfd_open(" + std::to_string(entry->pid) + "): " + std::strerror(errno);
    return nullptr;
  }
  // The pidfd pins one process; checking the start time again proves it is the one we named.
  start = processStartTime(entry->pid);
  if (!start || *start != entry->start_time) {
    return start ? recycled(*start) : refuse(pid_text + " is gone");
  }
  std::vector<std::string> wanted = {spec.executable};
  wanted.insert(wanted.end(), spec.args.begin(), spec.args.end());
  auto running = commandLine(entry->pid);
  if (running != wanted) {
    // Same pid and start time: a process meshbroker started, with an older command line.
    stopOutdated(fd.get(), entry->pid, stop_wait_);
    return refuse(pid_text + " runs \"" + joined(running) + "\", not \"" + joined(wanted) +
                  "\": stopped it");
  }

  auto shared = std::make_shared<Shared>(io_);
  shared->on_line = std::move(on_line);
  shared->on_exit = std::move(on_exit);
  shared->pid = entry->pid;
  shared->adopted = true;
  shared->pid_file = spec.pid_file;
  shared->pidfd.assign(fd.release());
  if (auto error = followLog(shared, spec.log_file, logWatcher()); !error.empty()) {
    stopFollowing(*shared);  // adopt it all the same: the tunnel matters more than its log
    asio::post(io_,
               [shared, error] { emit(*shared, "meshbroker: not following its log: " + error); });
  }
  waitForExit(shared);
  return std::make_unique<RealChild>(shared);
}

}  // namespace meshbroker::backends
