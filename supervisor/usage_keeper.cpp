#include "supervisor/usage_keeper.hpp"

#include <fstream>
#include <sstream>

#include "io/file_writer.hpp"
#include "io/log.hpp"

namespace meshbroker::supervisor {

using io::Level;
using io::log;
namespace fs = std::filesystem;

UsageKeeper::UsageKeeper(asio::io_context& io, fs::path file)
    : file_(std::move(file)), saver_(io) {}

void UsageKeeper::start() {
  if (started_) return;
  started_ = true;
  load();
  saver_.start(kSaveEvery, kSaveEvery, [this] { save(); });
}

std::optional<UsageLedger> UsageKeeper::read(const fs::path& file, std::string* error) {
  std::ifstream in(file);
  std::stringstream text;
  text << in.rdbuf();
  if (!in) {
    *error = "cannot read it";
    return std::nullopt;
  }
  auto json = nlohmann::json::parse(text.str(), nullptr, false);
  if (json.is_discarded()) {
    *error = "not JSON";
    return std::nullopt;
  }
  return UsageLedger::fromJson(json, UsageLedger::kDefaultMaxUsers, error);
}

void UsageKeeper::load() {
  std::error_code ec;
  if (!fs::exists(file_, ec)) return;
  std::string error;
  auto loaded = read(file_, &error);
  if (loaded) {
    ledger_ = std::move(*loaded);
    log(Level::kInfo, "usage: " + std::to_string(ledger_.userCount()) +
                          " users' figures read from " + file_.string());
    return;
  }
  // Never overwrite what we could not read: the operator may want it back.
  auto aside = file_;
  aside += ".bad-" + std::to_string(wallClockMs() / 1000);
  fs::rename(file_, aside, ec);
  log(Level::kError, "usage: " + file_.string() + ": " + error + "; kept as " + aside.string() +
                         (ec ? " (could not move it: " + ec.message() + ")" : "") +
                         "; counting from zero");
}

void UsageKeeper::observe(const std::string& instance, bool shared_certificate,
                          const std::vector<model::ConnectedClient>& clients) {
  if (ledger_.observe(instance, shared_certificate, clients, wallClockMs() / 1000)) dirty_ = true;
}

void UsageKeeper::save() {
  if (!dirty_) return;
  try {
    io::writeFileAtomically(file_, ledger_.toJson().dump() + "\n", 0600);
    dirty_ = false;
  } catch (const std::exception& e) {
    // Kept in memory; the next period tries again.
    log(Level::kWarning, std::string("usage: cannot save: ") + e.what());
  }
}

void UsageKeeper::stop() {
  if (!started_) return;
  save();
  saver_.stop();
}

}  // namespace meshbroker::supervisor
