// meshbroker's command line: parses arguments with CLI11 and dispatches to a verb.
#include <CLI/CLI.hpp>
#include <filesystem>
#include <iostream>

#include "cli/commands.hpp"

namespace {

std::filesystem::path selfBinary() {
  std::error_code ec;
  auto path = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::filesystem::path("/usr/bin/meshbroker") : path;
}

}  // namespace

int main(int argc, char** argv) {
  namespace cli = meshbroker::cli;
  CLI::App app{
      "meshbroker: offer Internet access into a community mesh over tinc and OpenVPN.\n"
      "Renders and supervises tincd and OpenVPN from one JSON config per node."};
  app.set_version_flag("--version", std::string("meshbroker ") + MESHBROKER_VERSION);
  app.require_subcommand(1);
  app.footer("Config reference: docs/config.md. Examples: examples/seed/.");

  std::string config_file;
  std::string out_dir;
  std::string event;
  std::string runtime_dir = "/run/meshbroker";

  auto* check = app.add_subcommand("check", "Validate a config file; print one line per problem");
  check->add_option("-c,--config", config_file, "Config file (JSON)")->required();

  auto* render = app.add_subcommand(
      "render",
      "Write every file tincd needs (tinc.conf, tinc-up/down, hosts/*, hooks); starts nothing");
  render->add_option("-c,--config", config_file, "Config file (JSON)")->required();
  render->add_option("-o,--output", out_dir, "Folder to write into (default: paths.render_dir)");

  auto* keygen = app.add_subcommand(
      "keygen", "Create this node's tinc RSA key pair if missing; print its public host file");
  keygen->add_option("-c,--config", config_file, "Config file (JSON)")->required();

  auto* notify = app.add_subcommand(
      "notify", "Used by the rendered tinc hooks: tell the running daemon about a tinc event");
  notify
      ->add_option("event", event, "tinc-up, tinc-down, host-up, host-down, subnet-up, subnet-down")
      ->required()
      ->check(CLI::IsMember(
          {"tinc-up", "tinc-down", "host-up", "host-down", "subnet-up", "subnet-down"}));
  notify->add_option("-r,--runtime-dir", runtime_dir, "The daemon's runtime folder");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : cli::kExitUsage;
  }

  if (*check) return cli::runCheck(config_file, std::cout, std::cerr);
  if (*render) return cli::runRender(config_file, out_dir, selfBinary(), std::cout, std::cerr);
  if (*keygen) return cli::runKeygen(config_file, std::cout, std::cerr);
  if (*notify) return cli::runNotify(event, runtime_dir, std::cerr);
  return cli::kExitUsage;
}
