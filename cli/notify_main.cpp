// meshbroker-notify: what tinc's rendered hooks run when it sits beside the meshbroker binary
// (supervisor/privilege_setup.cpp), with `meshbroker notify`'s arguments:
//   meshbroker-notify [notify] [-r|--runtime-dir DIR] EVENT
// tincd 1.0 waits for each hook and forwards no packet meanwhile. This program links nothing
// but backends/tinc_hook_message.cpp and is never sanitizer-instrumented, so it costs about
// 0.5 ms over /bin/true; meshbroker itself about 5 ms, and an ASan build of it 0.2-0.6 s, long
// enough for the health checks to see the other gateways go silent.
#include <cstdio>
#include <string>
#include <string_view>

#include "backends/tinc_hook_message.hpp"

namespace {

constexpr int kExitOk = 0;  // the same codes as `meshbroker notify` (cli/commands.hpp)
constexpr int kExitUsage = 2;
constexpr int kExitFailure = 3;

constexpr const char* kUsage =
    "usage: meshbroker-notify [notify] [-r|--runtime-dir DIR] EVENT\n"
    "Used by the tinc hooks meshbroker renders: tells the running daemon about a tinc event.\n"
    "EVENT: tinc-up, tinc-down, host-up, host-down, subnet-up or subnet-down. tinc's variables\n"
    "(NODE, REMOTEADDRESS, ...) are read from the environment. DIR: the daemon's runtime folder\n"
    "(default /run/meshbroker). Nothing listening there is not an error.\n";

int usage(const std::string& why) {
  std::fprintf(stderr, "meshbroker-notify: %s\n%s", why.c_str(), kUsage);
  return kExitUsage;
}

}  // namespace

int main(int argc, char** argv) {
  std::string runtime_dir = "/run/meshbroker";
  std::string event;
  int i = 1;
  if (i < argc && std::string_view(argv[i]) == "notify") ++i;
  for (; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      std::fputs(kUsage, stdout);
      return kExitOk;
    }
    if (arg == "-r" || arg == "--runtime-dir") {
      if (++i == argc) return usage(std::string(arg) + " needs a folder");
      runtime_dir = argv[i];
    } else if (arg.starts_with("--runtime-dir=")) {
      runtime_dir = arg.substr(std::string_view("--runtime-dir=").size());
    } else if (event.empty() && !arg.starts_with("-")) {
      event = arg;
    } else {
      return usage("unexpected argument \"" + std::string(arg) + "\"");
    }
  }
  if (event.empty()) return usage("no event");
  if (!meshbroker::backends::isTincHookEvent(event)) {
    return usage("unknown event \"" + event + "\"");
  }
  const auto result = meshbroker::backends::notifyDaemon(event, runtime_dir);
  switch (result.outcome) {
    case meshbroker::backends::HookSend::kSent:
    case meshbroker::backends::HookSend::kNoDaemon:
      return kExitOk;
    case meshbroker::backends::HookSend::kPathTooLong:
      std::fprintf(stderr, "meshbroker-notify: %s\n", result.error.c_str());
      return kExitUsage;
    case meshbroker::backends::HookSend::kFailed:
      break;
  }
  std::fprintf(stderr, "meshbroker-notify: %s\n", result.error.c_str());
  return kExitFailure;
}
