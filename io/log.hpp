// Logging to stderr: journald priority prefixes under systemd, timestamps elsewhere.
#pragma once

#include <string_view>

namespace meshbroker::io {

enum class Level { kError = 3, kWarning = 4, kNotice = 5, kInfo = 6, kDebug = 7 };

// One line; control characters in message are escaped so a child's output cannot forge lines.
void log(Level level, std::string_view message);

}  // namespace meshbroker::io
