// Benchmark tool: a paced stream of sequence-numbered UDP datagrams and a receiver that reports
// loss and the largest gap between consecutive arrivals (the outage). Plain POSIX, no deps.
//
//   udp_stream send DST:PORT [--rate HZ] [--seconds S] [--size BYTES]   (SIGTERM: end now)
//   udp_stream recv PORT [--seconds S] [--gap-log FILE] [--gap-min-ms MS] [--loss-log FILE]
//
// DST is an IPv4 address or a bracketed IPv6 one ("[fd00:65:2::8]:9000"); the receiver takes
// both families on one socket (IPv4-mapped on an IPv6 socket; IPv4 only where IPv6 is off).
//
// Every datagram carries a sequence number and its send time (CLOCK_REALTIME, so a shell script
// can relate it to ${EPOCHREALTIME}; all namespaces of one machine share that clock). The sender
// ends with a few END datagrams that carry the number sent, so the receiver stops early and
// knows how many it missed at the tail. Both print one JSON object on stdout when done.
// Receive times are the kernel's (SO_TIMESTAMPNS): the receiver's own scheduling adds nothing.
// The receiver reports the one-way latency and the inter-arrival times (p50, p99, p99.9, max,
// how many over 5 and over 20 ms): at a steady rate, what a path adds to the spacing is jitter.
// The sender's own lateness (a busy machine) shows in those too; ipdv_ms (p99, max) takes it
// out: how much the one-way latency changed from one datagram to the next (RFC 5481's IPDV).
//
// The receiver's logs, for scripts that cut a link in the middle of a stream:
//   --gap-log FILE   one line per gap >= --gap-min-ms (default 10) between consecutive arrivals:
//                    "START_MS END_MS GAP_MS AFTER_SEQ BEFORE_SEQ" (receive times, epoch ms);
//                    a stream whose tail never arrived ends with a gap up to the deadline
//                    (BEFORE_SEQ -1).
//   --loss-log FILE  one line per lost datagram: "SEQ SEND_MS" (send time interpolated from
//                    the neighbours that did arrive).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cmath>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace {

volatile std::sig_atomic_t g_stop = 0;  // set by SIGTERM/SIGINT in the sender

constexpr uint32_t kMagic = 0x4d425553;  // "MBUS"
constexpr uint32_t kData = 0;
constexpr uint32_t kEnd = 1;
constexpr uint64_t kMaxSeq = 50'000'000;  // bounds the receiver's memory (~14 h at 1 kHz)

// Wire format, network byte order; the rest of a datagram is zero padding.
struct Header {
  uint32_t magic;
  uint32_t kind;
  uint64_t seq;     // data: sequence number from 0; end: number of data datagrams sent
  int64_t send_ns;  // CLOCK_REALTIME at send
};

uint64_t hton64(uint64_t v) {
  return (static_cast<uint64_t>(htonl(static_cast<uint32_t>(v))) << 32) |
         htonl(static_cast<uint32_t>(v >> 32));
}
uint64_t ntoh64(uint64_t v) { return hton64(v); }

int64_t nowNs(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}
int64_t realNs() { return nowNs(CLOCK_REALTIME); }

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "udp_stream: %s\n"
               "usage: udp_stream send DST:PORT [--rate HZ] [--seconds S] [--size BYTES]\n"
               "       udp_stream recv PORT [--seconds S] [--gap-log FILE] [--gap-min-ms MS]"
               " [--loss-log FILE]\n",
               why);
  std::exit(2);
}

double parseNumber(std::string_view flag, const char* text, double lo, double hi) {
  char* end = nullptr;
  errno = 0;
  double v = std::strtod(text, &end);
  if (errno != 0 || end == text || *end != '\0' || !(v >= lo && v <= hi)) {
    std::string msg = std::string(flag) + ": \"" + text + "\" is not a number in [" +
                      std::to_string(lo) + ", " + std::to_string(hi) + "]";
    usage(msg.c_str());
  }
  return v;
}

uint16_t parsePort(const char* text) {
  return static_cast<uint16_t>(parseNumber("port", text, 1, 65535));
}

// Options shared by both modes; each mode rejects the ones it does not take.
struct Options {
  double rate = 1000;
  double seconds = 10;
  double gap_min_ms = 10;
  size_t size = 64;
  std::string gap_log;
  std::string loss_log;
};

Options parseOptions(int argc, char** argv, int first, bool sender) {
  Options o;
  for (int i = first; i < argc; ++i) {
    std::string_view a = argv[i];
    if (i + 1 >= argc) usage(("missing value after " + std::string(a)).c_str());
    const char* v = argv[++i];
    if (a == "--seconds") {
      o.seconds = parseNumber(a, v, 0.001, 1e6);
    } else if (sender && a == "--rate") {
      o.rate = parseNumber(a, v, 1, 1e6);
    } else if (sender && a == "--size") {
      o.size = static_cast<size_t>(parseNumber(a, v, sizeof(Header), 65000));
    } else if (!sender && a == "--gap-log") {
      o.gap_log = v;
    } else if (!sender && a == "--gap-min-ms") {
      o.gap_min_ms = parseNumber(a, v, 0, 1e9);
    } else if (!sender && a == "--loss-log") {
      o.loss_log = v;
    } else {
      usage(("unknown option " + std::string(a)).c_str());
    }
  }
  return o;
}

int udpSocket(int family) {
  int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    std::perror("udp_stream: socket");
    std::exit(1);
  }
  return fd;
}

// --- sender ------------------------------------------------------------------------------

int runSend(const char* target, const Options& o) {
  std::string t = target;
  auto colon = t.rfind(':');
  if (colon == std::string::npos) usage("send needs DST:PORT");
  const uint16_t port = htons(parsePort(t.c_str() + colon + 1));
  std::string host = t.substr(0, colon);
  sockaddr_storage dst{};
  socklen_t dst_len = 0;
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    auto* six = reinterpret_cast<sockaddr_in6*>(&dst);
    six->sin6_family = AF_INET6;
    six->sin6_port = port;
    if (inet_pton(AF_INET6, host.substr(1, host.size() - 2).c_str(), &six->sin6_addr) != 1) {
      usage(("\"" + host + "\" is not a bracketed IPv6 address").c_str());
    }
    dst_len = sizeof(sockaddr_in6);
  } else {
    auto* four = reinterpret_cast<sockaddr_in*>(&dst);
    four->sin_family = AF_INET;
    four->sin_port = port;
    if (inet_pton(AF_INET, host.c_str(), &four->sin_addr) != 1) {
      usage(("\"" + host + "\" is not an IPv4 address (IPv6: [ADDRESS]:PORT)").c_str());
    }
    dst_len = sizeof(sockaddr_in);
  }
  int fd = udpSocket(dst.ss_family);
  std::vector<char> buf(o.size, 0);
  const auto period_ns = static_cast<int64_t>(1e9 / o.rate);
  const auto count = static_cast<uint64_t>(o.rate * o.seconds);
  uint64_t errors = 0, full = 0;
  int last_errno = 0;
  int64_t max_late_ns = 0;
  auto send = [&](uint32_t kind, uint64_t seq) {
    Header h{htonl(kMagic), htonl(kind), hton64(seq),
             static_cast<int64_t>(hton64(static_cast<uint64_t>(realNs())))};
    std::memcpy(buf.data(), &h, sizeof h);
    // Unconnected socket: ICMP errors from a dead path do not fail later sends. A failing
    // send (no route for a moment while a route is replaced) is a lost datagram, not an end.
    // Never blocking: datagrams stuck on the way to a dead gateway fill the socket's send
    // buffer, and a blocked sender would stretch the outage past the route switch.
    if (sendto(fd, buf.data(), buf.size(), MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&dst),
               dst_len) < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        ++full;
      } else {
        ++errors;
        last_errno = errno;
      }
    }
  };
  // SIGTERM or SIGINT ends the stream early, as if --seconds had been shorter: the END
  // datagrams carry the number sent, so the receiver stops too (a script ends a trial as soon
  // as it has what it measures).
  struct sigaction stop {};
  stop.sa_handler = [](int) { g_stop = 1; };
  sigaction(SIGTERM, &stop, nullptr);
  sigaction(SIGINT, &stop, nullptr);
  // Absolute deadlines on the monotonic clock: no drift, and a late wake-up sends at once.
  const int64_t start = nowNs(CLOCK_MONOTONIC);
  uint64_t sent = count;
  for (uint64_t seq = 0; seq < count; ++seq) {
    if (g_stop) {
      sent = seq;
      break;
    }
    int64_t due = start + static_cast<int64_t>(seq) * period_ns;
    timespec ts{static_cast<time_t>(due / 1'000'000'000), static_cast<long>(due % 1'000'000'000)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
    }
    max_late_ns = std::max(max_late_ns, nowNs(CLOCK_MONOTONIC) - due);
    send(kData, seq);
  }
  for (int i = 0; i < 5; ++i) {
    usleep(10'000);
    send(kEnd, sent);
  }
  std::printf("{\"sent\":%" PRIu64
              ",\"rate\":%g,\"seconds\":%g,\"size\":%zu,\"send_errors\":%" PRIu64
              ",\"last_errno\":\"%s\",\"buffer_full\":%" PRIu64 ",\"max_late_ms\":%.3f}\n",
              sent, o.rate, o.seconds, o.size, errors, last_errno ? std::strerror(last_errno) : "",
              full, static_cast<double>(max_late_ns) / 1e6);
  close(fd);
  return 0;
}

// --- receiver ----------------------------------------------------------------------------

struct Gap {
  double ms = 0;
  int64_t start_ns = 0;
  int64_t end_ns = 0;
  int64_t after_seq = -1;
  int64_t before_seq = -1;
};

FILE* openLog(const std::string& path) {
  if (path.empty()) return nullptr;
  FILE* f = std::fopen(path.c_str(), "w");
  if (!f) {
    std::perror(("udp_stream: " + path).c_str());
    std::exit(1);
  }
  return f;
}

int runRecv(const char* port_text, const Options& o) {
  // One socket for both families: IPv6 with IPv4-mapped addresses, or IPv4 where the kernel
  // has no IPv6.
  const uint16_t port = htons(parsePort(port_text));
  int fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_storage addr{};
  socklen_t addr_len = 0;
  int one = 1, zero = 0;
  if (fd >= 0) {
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
    auto* six = reinterpret_cast<sockaddr_in6*>(&addr);
    six->sin6_family = AF_INET6;
    six->sin6_port = port;
    six->sin6_addr = in6addr_any;
    addr_len = sizeof(sockaddr_in6);
  } else {
    fd = udpSocket(AF_INET);
    auto* four = reinterpret_cast<sockaddr_in*>(&addr);
    four->sin_family = AF_INET;
    four->sin_port = port;
    four->sin_addr.s_addr = htonl(INADDR_ANY);
    addr_len = sizeof(sockaddr_in);
  }
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  int rcvbuf = 4 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), addr_len) < 0) {
    std::perror("udp_stream: bind");
    return 1;
  }
  if (setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one) < 0) {
    std::perror("udp_stream: SO_TIMESTAMPNS");
    return 1;
  }
  FILE* gap_log = openLog(o.gap_log);
  FILE* loss_log = openLog(o.loss_log);

  std::vector<int64_t> send_ns;  // per sequence number; 0 = not received
  std::vector<double> latency_ms;
  std::vector<double> interarrival_ms;
  std::vector<double> ipdv_ms;  // |latency change| between datagrams seq-1 and seq (RFC 5481)
  double last_latency_ms = 0;
  uint64_t received = 0, duplicates = 0, reordered = 0, bad = 0;
  std::optional<uint64_t> total;  // from an END datagram
  int64_t max_seq = -1, last_seq = -1, last_rx = 0;
  Gap worst;
  auto noteGap = [&](int64_t from_ns, int64_t to_ns, int64_t after, int64_t before) {
    double ms = static_cast<double>(to_ns - from_ns) / 1e6;
    if (gap_log && ms >= o.gap_min_ms) {
      std::fprintf(gap_log, "%.3f %.3f %.3f %" PRId64 " %" PRId64 "\n",
                   static_cast<double>(from_ns) / 1e6, static_cast<double>(to_ns) / 1e6, ms, after,
                   before);
    }
    if (ms > worst.ms) worst = Gap{ms, from_ns, to_ns, after, before};
  };

  const int64_t deadline = nowNs(CLOCK_MONOTONIC) + static_cast<int64_t>(o.seconds * 1e9);
  int64_t stop_at = deadline;  // moved closer once END arrives (a short drain for stragglers)
  alignas(8) char buf[65536];
  for (;;) {
    int64_t left_ms = (stop_at - nowNs(CLOCK_MONOTONIC)) / 1'000'000;
    if (left_ms <= 0) break;
    pollfd p{fd, POLLIN, 0};
    int r = poll(&p, 1, static_cast<int>(std::min<int64_t>(left_ms, 1000)));
    if (r < 0 && errno != EINTR) {
      std::perror("udp_stream: poll");
      return 1;
    }
    if (r <= 0) continue;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(timespec))];
    iovec iov{buf, sizeof buf};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t n = recvmsg(fd, &msg, 0);
    int64_t rx = realNs();
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
        timespec ts{};
        std::memcpy(&ts, CMSG_DATA(c), sizeof ts);
        rx = static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
      }
    }
    if (n < static_cast<ssize_t>(sizeof(Header))) {
      ++bad;
      continue;
    }
    Header h;
    std::memcpy(&h, buf, sizeof h);
    if (ntohl(h.magic) != kMagic) {
      ++bad;
      continue;
    }
    uint64_t seq = ntoh64(h.seq);
    if (ntohl(h.kind) == kEnd) {
      if (!total) {
        total = seq;
        stop_at = std::min(stop_at, nowNs(CLOCK_MONOTONIC) + 50'000'000);
      }
      continue;
    }
    if (seq >= kMaxSeq) {
      ++bad;
      continue;
    }
    if (seq >= send_ns.size()) send_ns.resize(std::max<size_t>(seq + 1, send_ns.size() * 2), 0);
    if (send_ns[seq] != 0) {
      ++duplicates;
      continue;
    }
    auto sent = static_cast<int64_t>(ntoh64(static_cast<uint64_t>(h.send_ns)));
    send_ns[seq] = sent;
    const double latency = static_cast<double>(rx - sent) / 1e6;
    latency_ms.push_back(latency);
    if (last_seq >= 0 && static_cast<int64_t>(seq) == last_seq + 1) {
      ipdv_ms.push_back(std::abs(latency - last_latency_ms));
    }
    last_latency_ms = latency;
    ++received;
    if (last_rx != 0) {
      noteGap(last_rx, rx, last_seq, static_cast<int64_t>(seq));
      interarrival_ms.push_back(static_cast<double>(rx - last_rx) / 1e6);
    }
    if (static_cast<int64_t>(seq) < max_seq) ++reordered;
    max_seq = std::max(max_seq, static_cast<int64_t>(seq));
    last_seq = static_cast<int64_t>(seq);
    last_rx = rx;
  }
  uint64_t expected = total ? *total : static_cast<uint64_t>(max_seq + 1);
  bool complete = total.has_value() && max_seq + 1 == static_cast<int64_t>(expected);
  // The tail never arrived (no END, or END but not the last datagrams): the path was dead
  // until we stopped listening, which is a gap too.
  if (last_rx != 0 && !total) noteGap(last_rx, realNs(), last_seq, -1);

  // Lost datagrams and their (interpolated) send times.
  send_ns.resize(std::max<size_t>(send_ns.size(), expected), 0);
  uint64_t lost = 0;
  int64_t first_lost_ns = 0, last_lost_ns = 0;
  int64_t prev = -1;  // last received seq below the current one
  for (uint64_t s = 0; s < expected; ++s) {
    if (send_ns[s] != 0) {
      prev = static_cast<int64_t>(s);
      continue;
    }
    uint64_t next = s + 1;
    while (next < expected && send_ns[next] == 0) ++next;
    for (uint64_t k = s; k < next; ++k) {
      // Interpolated between the neighbours that arrived; the nearest one at the edges.
      int64_t t = 0;
      if (prev >= 0 && next < expected) {
        double frac = static_cast<double>(k - static_cast<uint64_t>(prev)) /
                      static_cast<double>(next - static_cast<uint64_t>(prev));
        t = send_ns[prev] +
            static_cast<int64_t>(frac * static_cast<double>(send_ns[next] - send_ns[prev]));
      } else if (prev >= 0) {
        t = send_ns[prev];
      } else if (next < expected) {
        t = send_ns[next];
      }
      if (loss_log) std::fprintf(loss_log, "%" PRIu64 " %.3f\n", k, static_cast<double>(t) / 1e6);
      if (lost == 0) first_lost_ns = t;
      last_lost_ns = t;
      ++lost;
    }
    s = next - 1;
  }
  if (gap_log) std::fclose(gap_log);
  if (loss_log) std::fclose(loss_log);

  double p50 = 0, p99 = 0, lmax = 0;
  if (!latency_ms.empty()) {
    std::sort(latency_ms.begin(), latency_ms.end());
    p50 = latency_ms[latency_ms.size() / 2];
    p99 = latency_ms[std::min(latency_ms.size() - 1, latency_ms.size() * 99 / 100)];
    lmax = latency_ms.back();
  }
  // Inter-arrival times (kernel receive timestamps): gaps between consecutive datagrams in
  // arrival order, the outage's gap included.
  auto over = [&](double ms) {
    return std::count_if(interarrival_ms.begin(), interarrival_ms.end(),
                         [ms](double v) { return v > ms; });
  };
  const long over5 = over(5), over20 = over(20);
  // What the path added to the spacing, the sender's own lateness taken out: the change of
  // one-way latency between consecutive datagrams.
  double ipdv99 = 0, ipdvmax = 0;
  if (!ipdv_ms.empty()) {
    std::sort(ipdv_ms.begin(), ipdv_ms.end());
    ipdv99 = ipdv_ms[std::min(ipdv_ms.size() - 1, ipdv_ms.size() * 99 / 100)];
    ipdvmax = ipdv_ms.back();
  }
  double ia50 = 0, ia99 = 0, ia999 = 0, iamax = 0;
  if (!interarrival_ms.empty()) {
    std::sort(interarrival_ms.begin(), interarrival_ms.end());
    const size_t n = interarrival_ms.size();
    ia50 = interarrival_ms[n / 2];
    ia99 = interarrival_ms[std::min(n - 1, n * 99 / 100)];
    ia999 = interarrival_ms[std::min(n - 1, n * 999 / 1000)];
    iamax = interarrival_ms.back();
  }
  // Times are epoch milliseconds, or null when there is nothing to time.
  auto ms = [](bool known, int64_t ns) {
    char out[32] = "null";
    if (known) std::snprintf(out, sizeof out, "%.3f", static_cast<double>(ns) / 1e6);
    return std::string(out);
  };
  std::printf("{\"received\":%" PRIu64 ",\"lost\":%" PRIu64 ",\"expected\":%" PRIu64
              ",\"complete\":%s,\"duplicates\":%" PRIu64 ",\"reordered\":%" PRIu64
              ",\"bad\":%" PRIu64 ",\"max_gap_ms\":%.3f,\"gap_after_seq\":%" PRId64
              ",\"gap_before_seq\":%" PRId64
              ",\"gap_start_ms\":%s,\"gap_end_ms\":%s,\"first_lost_ms\":%s,\"last_lost_ms\":%s"
              ",\"latency_ms\":{\"p50\":%.3f,\"p99\":%.3f,\"max\":%.3f}"
              ",\"interarrival_ms\":{\"p50\":%.3f,\"p99\":%.3f,\"p999\":%.3f,\"max\":%.3f"
              ",\"over_5\":%ld,\"over_20\":%ld},\"ipdv_ms\":{\"p99\":%.3f,\"max\":%.3f}}\n",
              received, lost, expected, complete ? "true" : "false", duplicates, reordered, bad,
              worst.ms, worst.after_seq, worst.before_seq, ms(worst.ms > 0, worst.start_ns).c_str(),
              ms(worst.ms > 0, worst.end_ns).c_str(), ms(lost > 0, first_lost_ns).c_str(),
              ms(lost > 0, last_lost_ns).c_str(), p50, p99, lmax, ia50, ia99, ia999, iamax, over5,
              over20, ipdv99, ipdvmax);
  close(fd);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) usage("need a mode and a target");
  std::string_view mode = argv[1];
  if (mode == "send") return runSend(argv[2], parseOptions(argc, argv, 3, true));
  if (mode == "recv") return runRecv(argv[2], parseOptions(argc, argv, 3, false));
  usage("mode must be send or recv");
}
