// stderr logging with journald "<N>" priority prefixes (sd-daemon(3)) when JOURNAL_STREAM is set.
#include "io/log.hpp"

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>

namespace meshbroker::io {

void log(Level level, std::string_view message) {
  static const bool journal = std::getenv("JOURNAL_STREAM") != nullptr;
  std::string line;
  if (journal) {
    line = "<" + std::to_string(static_cast<int>(level)) + ">";
  } else {
    timespec now{};
    clock_gettime(CLOCK_REALTIME, &now);
    tm local{};
    localtime_r(&now.tv_sec, &local);
    char stamp[32];
    std::strftime(stamp, sizeof stamp, "%H:%M:%S", &local);
    char millis[32];
    std::snprintf(millis, sizeof millis, ".%03ld ", now.tv_nsec / 1000000);
    line = std::string(stamp) + millis;
    if (level <= Level::kWarning) line += level == Level::kError ? "error: " : "warning: ";
  }
  for (char c : message) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\x%02x", u);
      line += escaped;
    } else {
      line += c;
    }
  }
  line += '\n';
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace meshbroker::io
