// The gateway-only meshbroker's command line (MESHBROKER_GATEWAY_ONLY): the verbs a gateway
// router runs (check, render, keygen, run, notify, --version), parsed by hand. CLI11 and the
// server's verbs (client, status, invite, ...) are main.cpp's, not in this build.
#include <filesystem>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "cli/commands.hpp"
#include "cli/run_command.hpp"
#include "supervisor/privilege_setup.hpp"

namespace {

namespace cli = meshbroker::cli;

constexpr const char* kUsage =
    "meshbroker (gateway-only build): tinc, health checks and routes for a mesh gateway.\n"
    "Usage: meshbroker VERB [OPTIONS]\n"
    "  check  -c FILE            validate a config file; one line per problem\n"
    "  render -c FILE [-o DIR]   write every file tincd needs; starts nothing\n"
    "  keygen -c FILE            create this node's tinc RSA key pair if missing\n"
    "  run    -c FILE            the daemon: render, start and supervise tincd, probe the\n"
    "                            gateways, keep the routes; SIGHUP reloads, SIGTERM stops\n"
    "  notify EVENT [-r DIR]     used by the rendered tinc hooks (DIR: the runtime folder,\n"
    "                            default /run/meshbroker)\n"
    "  --version                 print the version\n"
    "Servers (OpenVPN, the PKI, the status page) need the full build. Config reference:\n"
    "docs/config.md.\n";

std::filesystem::path selfBinary() {
  std::error_code ec;
  auto path = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::filesystem::path("/usr/bin/meshbroker") : path;
}

int usage(const std::string& problem) {
  std::cerr << "meshbroker: " << problem << "\n\n" << kUsage;
  return cli::kExitUsage;
}

bool isEvent(std::string_view event) {
  for (const char* known :
       {"tinc-up", "tinc-down", "host-up", "host-down", "subnet-up", "subnet-down"}) {
    if (event == known) return true;
  }
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string_view> args(argv + 1, argv + argc);
  if (args.empty()) return usage("which verb?");
  const std::string_view verb = args.front();
  if (verb == "--version") {
    std::cout << "meshbroker " << MESHBROKER_VERSION << " (gateway only)\n";
    return cli::kExitOk;
  }
  if (verb == "-h" || verb == "--help") {
    std::cout << kUsage;
    return cli::kExitOk;
  }
  std::string config_file;
  std::string out_dir;
  std::string runtime_dir = "/run/meshbroker";
  std::vector<std::string> positional;
  for (std::size_t i = 1; i < args.size(); ++i) {
    const auto arg = args[i];
    auto value = [&](std::string& into) {
      if (i + 1 >= args.size()) return false;
      into = std::string(args[++i]);
      return true;
    };
    bool ok = true;
    if (arg == "-c" || arg == "--config") {
      ok = value(config_file);
    } else if (arg.starts_with("--config=")) {
      config_file = std::string(arg.substr(9));
    } else if ((arg == "-o" || arg == "--output") && verb == "render") {
      ok = value(out_dir);
    } else if ((arg == "-r" || arg == "--runtime-dir") && verb == "notify") {
      ok = value(runtime_dir);
    } else if (arg == "-h" || arg == "--help") {
      std::cout << kUsage;
      return cli::kExitOk;
    } else if (arg.starts_with("-")) {
      return usage("unknown option \"" + std::string(arg) + "\" for " + std::string(verb));
    } else {
      positional.emplace_back(arg);
    }
    if (!ok) return usage(std::string(arg) + " needs a value");
  }

  if (verb == "notify") {
    if (positional.size() != 1 || !isEvent(positional.front())) {
      return usage(
          "notify takes one event: tinc-up, tinc-down, host-up, host-down, subnet-up, "
          "subnet-down");
    }
    return cli::runNotify(positional.front(), runtime_dir, std::cerr);
  }
  if (verb != "check" && verb != "render" && verb != "keygen" && verb != "run") {
    return usage("unknown verb \"" + std::string(verb) +
                 "\" (this build is for the gateway role only: check, render, keygen, run, "
                 "notify)");
  }
  if (!positional.empty()) return usage("unexpected argument \"" + positional.front() + "\"");
  if (config_file.empty()) return usage(std::string(verb) + " needs -c FILE");
  if (verb == "check") return cli::runCheck(config_file, std::cout, std::cerr);
  if (verb == "render") {
    return cli::runRender(config_file, out_dir, meshbroker::supervisor::hookProgram(selfBinary()),
                          std::cout, std::cerr);
  }
  if (verb == "keygen") return cli::runKeygen(config_file, std::cout, std::cerr);
  return cli::runDaemon(config_file, selfBinary(), std::cerr);
}
