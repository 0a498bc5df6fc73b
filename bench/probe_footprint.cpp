// Benchmark: what the SocketProber costs at gateway scale (N targets at H Hz for S seconds on
// one io_context): probes, successes, RSS, CPU, schedule jitter. Prints one JSON line.
//
// usage: probe_footprint icmp|udp|baseline FIRST_ADDRESS TARGETS HZ SECONDS [UDP_PORT] [--spread]
//   targets are FIRST_ADDRESS, FIRST_ADDRESS + 1, ... (local addresses); for udp an echo
//   server runs in a child process (not counted) on each of them, port UDP_PORT (7777).
//   baseline: the same schedule with no prober and no socket, to tell the timer's own jitter
//   and cost on this machine (wake-ups, the scheduler's tick) from what probing adds.
//
// The schedule is the daemon's (supervisor/gateway_monitor.cpp): one timer for every target,
// armed for the earliest one due, and each wake probes every target that is due. By default
// the targets are aligned as the daemon's checks are (all made at one instant, each probing
// again one interval after the wake that sent its last probe): one wake probes every target.
// --spread spaces the targets' phases evenly over the interval instead: one wake per probe,
// the most wake-ups a schedule can cost (the daemon's checks get there only when they drift
// apart, e.g. checks added by a reload or probing fast while in doubt).
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "health/socket_prober.hpp"
#include "stats.hpp"

namespace mb = meshbroker;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

long statusKb(const std::string& field) {  // VmRSS, VmHWM from /proc/self/status
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field + ":", 0) == 0) return std::stol(line.substr(field.size() + 1));
  }
  return -1;
}

double cpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

using meshbroker::bench::percentile;

// The echo service for UDP probes, in a child so its CPU and memory are not counted. One
// socket per target address: a wildcard socket would answer from the address the route
// picks, which a connected probe socket rightly ignores.
pid_t startEchoServer(std::uint32_t first, int count, std::uint16_t port) {
  pid_t pid = ::fork();
  if (pid != 0) return pid;
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  using udp = mb::asio::ip::udp;
  struct Echo {
    explicit Echo(mb::asio::io_context& io, udp::endpoint at) : socket(io, at) {}
    udp::socket socket;
    std::array<char, 2048> data{};
    udp::endpoint peer;
    void receive() {
      socket.async_receive_from(
          mb::asio::buffer(data), peer, [this](const boost::system::error_code& ec, std::size_t n) {
            if (ec) return;
            boost::system::error_code ignored;
            socket.send_to(mb::asio::buffer(data.data(), n), peer, 0, ignored);
            receive();
          });
    }
  };
  mb::asio::io_context io;
  std::vector<std::unique_ptr<Echo>> echoes;
  for (int i = 0; i < count; ++i) {
    mb::asio::ip::address_v4 address(first + static_cast<std::uint32_t>(i));
    echoes.push_back(std::make_unique<Echo>(io, udp::endpoint(address, port)));
    echoes.back()->receive();
  }
  io.run();
  ::_exit(0);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args;
  bool spread = false;
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--spread") {
      spread = true;
    } else {
      args.emplace_back(argv[i]);
    }
  }
  if (args.size() < 5) {
    std::cerr << "usage: probe_footprint icmp|udp FIRST_ADDRESS TARGETS HZ SECONDS [UDP_PORT] "
                 "[--spread]\n";
    return 2;
  }
  std::string kind_text = args[0];
  std::string why;
  auto first = mb::config::Ipv4Address::parse(args[1], &why);
  int targets = std::atoi(args[2].c_str());
  int hz = std::atoi(args[3].c_str());
  int seconds = std::atoi(args[4].c_str());
  auto port = static_cast<std::uint16_t>(args.size() > 5 ? std::atoi(args[5].c_str()) : 7777);
  const bool baseline = kind_text == "baseline";
  if ((kind_text != "icmp" && kind_text != "udp" && !baseline) || !first || targets <= 0 ||
      hz <= 0 || seconds <= 0) {
    std::cerr << "probe_footprint: bad arguments" << (why.empty() ? "" : ": " + why) << "\n";
    return 2;
  }
  auto kind = kind_text == "icmp" ? mb::health::ProbeKind::kIcmp : mb::health::ProbeKind::kUdp;
  pid_t echo = kind == mb::health::ProbeKind::kUdp && !baseline
                   ? startEchoServer(first->value(), targets, port)
                   : 0;
  if (echo > 0) ::usleep(100000);  // let it bind

  // The samples are the benchmark's, not the prober's: touch their memory before measuring.
  std::vector<double> jitter_ms, rtt_us, lateness_ms;
  auto samples = static_cast<std::size_t>(targets) * static_cast<std::size_t>(hz) *
                 static_cast<std::size_t>(seconds + 1);
  for (auto* buffer : {&jitter_ms, &rtt_us, &lateness_ms}) {
    buffer->assign(samples, 0.0);
    buffer->clear();
  }
  long rss_idle_kb = statusKb("VmRSS");
  mb::asio::io_context io;
  mb::health::SocketProber prober(io);
  auto interval = std::chrono::duration_cast<Clock::duration>(std::chrono::seconds(1)) / hz;
  auto timeout = std::min<std::chrono::milliseconds>(
      500ms, std::chrono::duration_cast<std::chrono::milliseconds>(interval * 5));

  struct Target {
    mb::health::ProbeTarget probe;
    Clock::time_point next{};
    Clock::time_point last_probe{};
  };
  std::vector<Target> all(static_cast<std::size_t>(targets));
  long probes = 0, ok = 0, answered = 0, wakes = 0;
  std::map<std::string, long> errors;
  mb::health::SocketProber::Footprint peak;
  auto done = [&](const mb::health::ProbeResult& result) {
    ++answered;
    if (result.ok) {
      ++ok;
      rtt_us.push_back(static_cast<double>(result.rtt.count()));
    } else {
      ++errors[result.error];
    }
  };

  auto start = Clock::now() + 50ms;
  auto end = start + std::chrono::seconds(seconds);
  for (int i = 0; i < targets; ++i) {
    auto& t = all[static_cast<std::size_t>(i)];
    t.probe.kind = kind;
    t.probe.address = mb::config::Ipv4Address::fromUint(first->value() + static_cast<unsigned>(i));
    t.probe.port = port;
    t.probe.payload = "meshbroker probe";
    t.next = spread ? start + interval * i / targets : start;
  }
  // One timer for the whole schedule, armed for the earliest target due, as
  // GatewayMonitor::arm() does; a wake probes every target that is due (onTimer()).
  mb::asio::steady_timer timer(io);
  Clock::time_point scheduled{};
  std::function<void()> arm = [&] {
    auto wake = end;
    for (const auto& t : all) wake = std::min(wake, t.next);
    if (wake >= end) return;
    scheduled = wake;
    timer.expires_at(wake);
    timer.async_wait([&](const boost::system::error_code& ec) {
      if (ec) return;
      ++wakes;
      auto now = Clock::now();
      lateness_ms.push_back(std::chrono::duration<double, std::milli>(now - scheduled).count());
      for (auto& t : all) {
        if (t.next > now) continue;
        auto at = Clock::now();  // this probe's own time: in a wake, each waits for the ones before
        if (t.last_probe != Clock::time_point{}) {
          double actual = std::chrono::duration<double, std::milli>(at - t.last_probe).count();
          double nominal = std::chrono::duration<double, std::milli>(interval).count();
          jitter_ms.push_back(std::abs(actual - nominal));
        }
        t.last_probe = at;
        ++probes;
        if (baseline) {
          ++answered;  // nothing sent: the schedule alone
        } else {
          prober.probe(t.probe, timeout, done);
        }
        t.next += interval;  // a fixed grid: lateness does not accumulate
      }
      auto now_footprint = prober.footprint();  // after the wake's probes: the most outstanding
      peak.icmp_sockets = std::max(peak.icmp_sockets, now_footprint.icmp_sockets);
      peak.raw_icmp_sockets = std::max(peak.raw_icmp_sockets, now_footprint.raw_icmp_sockets);
      peak.udp_sockets = std::max(peak.udp_sockets, now_footprint.udp_sockets);
      peak.outstanding = std::max(peak.outstanding, now_footprint.outstanding);
      arm();
    });
  };
  arm();
  double cpu_before = cpuSeconds();
  auto wall_before = Clock::now();
  io.run_until(end + timeout + 100ms);
  double cpu = cpuSeconds() - cpu_before;
  double wall = std::chrono::duration<double>(Clock::now() - wall_before).count();
  long rss_kb = statusKb("VmRSS");
  long hwm_kb = statusKb("VmHWM");
  if (echo > 0) {
    ::kill(echo, SIGTERM);
    ::waitpid(echo, nullptr, 0);
  }

  nlohmann::json line = {
      {"bench", "probes"},
      {"kind", kind_text},
      {"icmp_socket", baseline || kind != mb::health::ProbeKind::kIcmp ? "none"
                      : peak.raw_icmp_sockets > 0                      ? "raw"
                                                                       : "datagram"},
      {"schedule", spread ? "spread" : "aligned"},
      {"targets", targets},
      {"hz", hz},
      {"seconds", seconds},
      {"probes", probes},
      {"ok", ok},
      {"answered", answered},
      {"errors", errors},
      {"rss_kb", rss_kb},
      {"rss_kb_before_prober", rss_idle_kb},  // incl. the sample buffers
      {"vm_hwm_kb", hwm_kb},
      {"cpu_pct_of_core", std::round(cpu / wall * 1000.0) / 10.0},
      {"cpu_us_per_probe",
       probes ? std::round(cpu * 1e6 / static_cast<double>(probes) * 10) / 10 : 0.0},
      {"interval_jitter_ms_p50", std::round(percentile(jitter_ms, 0.5) * 1000) / 1000},
      {"interval_jitter_ms_p99", std::round(percentile(jitter_ms, 0.99) * 1000) / 1000},
      {"wakes", wakes},
      {"timer_lateness_ms_p50", std::round(percentile(lateness_ms, 0.5) * 1000) / 1000},
      {"timer_lateness_ms_p99", std::round(percentile(lateness_ms, 0.99) * 1000) / 1000},
      {"rtt_us_p50", percentile(rtt_us, 0.5)},
      {"rtt_us_p99", percentile(rtt_us, 0.99)},
      {"peak_icmp_sockets", peak.icmp_sockets},
      {"peak_udp_sockets", peak.udp_sockets},
      {"peak_outstanding", peak.outstanding}};
  std::cout << line.dump() << std::endl;
  return probes > 0 && answered == probes ? 0 : 1;
}
