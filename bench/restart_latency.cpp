// Benchmark: time from a backend's death (SIGKILL sent) to its replacement process (spawned),
// through the real Daemon, state machine and RealProcessLauncher. Prints JSON lines.
//
// usage: restart_latency CONFIG [TRIALS]   (CONFIG's supervisor.tincd should be a long sleeper)
#include <signal.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <vector>

#include "backends/process.hpp"
#include "config/loader.hpp"
#include "supervisor/daemon.hpp"

namespace mb = meshbroker;
using Clock = std::chrono::steady_clock;

// Wraps the real launcher to timestamp every spawn.
class TimingLauncher : public mb::backends::ProcessLauncher {
 public:
  explicit TimingLauncher(mb::asio::io_context& io) : real_(io) {}
  std::unique_ptr<mb::backends::ChildProcess> spawn(const mb::backends::SpawnSpec& spec,
                                                    mb::backends::LineHandler on_line,
                                                    mb::backends::ExitHandler on_exit) override {
    auto child = real_.spawn(spec, std::move(on_line), std::move(on_exit));
    last_spawn = Clock::now();
    ++spawns;
    return child;
  }
  Clock::time_point last_spawn{};
  int spawns = 0;

 private:
  mb::backends::RealProcessLauncher real_;
};

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[static_cast<std::size_t>(p * static_cast<double>(v.size() - 1))];
}

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: restart_latency CONFIG [TRIALS]\n";
    return 2;
  }
  int trials = argc > 2 ? std::atoi(argv[2]) : 200;
  auto loaded = mb::config::loadConfigFile(argv[1]);
  if (!loaded.config) {
    for (const auto& d : loaded.diagnostics.all()) std::cerr << d.str() << "\n";
    return 1;
  }
  ::signal(SIGPIPE, SIG_IGN);
  mb::asio::io_context io;
  TimingLauncher launcher(io);
  mb::supervisor::Daemon daemon(io, launcher, {argv[1], "/bin/true"}, std::move(*loaded.config));
  daemon.start();

  std::vector<double> samples;
  Clock::time_point killed_at{};
  int spawns_at_kill = 0;
  mb::asio::steady_timer timer(io);
  std::function<void()> next = [&] {
    // A fresh process each time, with enough uptime to count as healthy (no backoff).
    timer.expires_after(std::chrono::milliseconds(250));
    timer.async_wait([&](const boost::system::error_code&) {
      if (spawns_at_kill && launcher.spawns > spawns_at_kill) {
        samples.push_back(
            std::chrono::duration<double, std::micro>(launcher.last_spawn - killed_at).count());
      }
      if (static_cast<int>(samples.size()) >= trials) {
        daemon.shutdown();
        return;
      }
      int pid = 0;
      for (const auto& b : daemon.snapshot().backends) {
        if (b.id == "tinc") pid = b.pid;
      }
      if (pid > 0) {
        spawns_at_kill = launcher.spawns;
        killed_at = Clock::now();
        ::kill(pid, SIGKILL);
      }
      next();
    });
  };
  next();
  io.run();

  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  nlohmann::json line = {{"bench", "restart"},
                         {"metric", "death_to_new_process_us"},
                         {"trials", samples.size()},
                         {"median_us", percentile(samples, 0.5)},
                         {"p99_us", percentile(samples, 0.99)},
                         {"max_us", *std::max_element(samples.begin(), samples.end())},
                         {"target_p99_us", 5000},
                         {"systemd_default_restartsec_us", 100000},
                         {"ratio_p99_vs_systemd_restartsec", percentile(samples, 0.99) / 100000.0},
                         {"max_rss_kb", usage.ru_maxrss}};
  std::cout << line.dump() << std::endl;
  return 0;
}
