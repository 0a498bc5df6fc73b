// An OpenVPN instance as a backend: see openvpn_driver.hpp.
#include "supervisor/openvpn_driver.hpp"

#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include "backends/pki.hpp"
#include "io/log.hpp"
#include "model/pki_layout.hpp"
#include "model/runtime_layout.hpp"
#include "supervisor/backend_supervisor.hpp"
#include "supervisor/clock.hpp"
#include "templates/renderer.hpp"

namespace meshbroker::supervisor {

using io::Level;
using io::log;

namespace fs = std::filesystem;

OpenVpnDriver::OpenVpnDriver(asio::io_context& io, const config::NodeConfig& config,
                             std::string instance, BackendSupervisor& backends,
                             backends::RateLimiter* rate_limiter, fs::path config_file, Hooks hooks)
    : io_(io),
      config_(config),
      name_(std::move(instance)),
      id_("openvpn-" + name_),
      backends_(backends),
      rate_limiter_(rate_limiter),
      config_file_(std::move(config_file)),
      hooks_(std::move(hooks)),
      poll_timer_(io),
      shape_timer_(io),
      revocation_tick_(io) {
  // Every second: when the instance's CRL file changes (a revoke here, or a copy from the CA
  // holder), end the sessions of the names it lists as revoked (pki.hpp, revokedNamesIn):
  // OpenVPN itself checks the CRL only at a handshake.
  revocation_tick_.start(std::chrono::seconds(1), std::chrono::seconds(1),
                         [this] { checkRevocations(); });
}

OpenVpnDriver::~OpenVpnDriver() {
  alive_.reset();  // before the management client calls back its pending replies
  management_.reset();
}

const config::OpenVpnInstance* OpenVpnDriver::instance() const {
  for (const auto& instance : config_.openvpn) {
    if (instance.name.str() == name_) return &instance;
  }
  return nullptr;  // removed from the config: adopted only to be stopped
}

backends::SpawnSpec OpenVpnDriver::spec() const {
  const auto& paths = config_.paths;
  model::RuntimeLayout runtime{paths.runtime_dir};
  backends::SpawnSpec spec = {
      config_.supervisor.openvpn.string(),
      {"--config", (paths.render_dir / "openvpn" / (name_ + ".conf")).string()},
      {}};
  // Backends outlive a killed meshbroker, so the tunnels stay up; the next one adopts them.
  spec.survive_parent = true;
  spec.pid_file = runtime.backendPidFile(id_);
  spec.log_file = runtime.backendLogFile(id_);
  return spec;
}

// OpenVPN cannot start without its CA, certificate, key, CRL and tls-crypt key. meshbroker does
// not make a CA by itself (one CA serves the whole network: `client init` on the CA holder,
// then copy), so say exactly what is missing instead of letting openvpn fail obscurely.
std::string OpenVpnDriver::missingPkiFile() const {
  model::PkiLayout pki{config_.paths.pki_dir};
  std::string server = model::serverCertName(config_.name.str(), name_);
  // What server.conf names: the instance's trust file (ca) and CRL file (crl-verify), not the
  // network CA and crl.pem alone.
  for (const auto& file : {pki.instanceTrust(name_), pki.instanceCrl(name_), pki.serverCert(server),
                           pki.serverKey(server), pki.tlsCryptKey(name_)}) {
    std::error_code ec;
    if (!fs::exists(file, ec)) return file.string();
  }
  return "";
}

std::string OpenVpnDriver::prepareSpawn() {
  shaped_ = false;
  if (auto missing = missingPkiFile(); !missing.empty()) {
    return missing + " is missing (run: meshbroker client init -c " + config_file_.string() + ")";
  }
  // A socket file left by a killed openvpn would make the new one fail to listen.
  if (const auto* config = instance()) {
    std::error_code ec;
    fs::remove(templates::managementSocket(config_, *config), ec);
  }
  return "";
}

// OpenVPN is ready when its management interface answers (a new process or an adopted one).
void OpenVpnDriver::attached(std::uint64_t serial, bool /*adopted*/) {
  const auto* config = instance();
  if (!config) return;
  if (!management_) {
    management_ = std::make_unique<backends::OpenVpnManagement>(
        io_, templates::managementSocket(config_, *config).string(),
        [id = id_](const std::string& message) { log(Level::kWarning, id + ": " + message); });
  }
  std::weak_ptr<char> alive = alive_;
  management_->open(
      [this, alive, serial] {
        if (alive.expired()) return;
        state_.management_connected = true;
        backends_.report(id_, serial, {EventKind::kReady, "management interface answered"});
        poll();
        shape(0);
      },
      // The client reconnects by itself (until the exit handler or the next spawn closes it);
      // on_ready above runs again when it is back.
      [this, alive] {
        if (alive.expired()) return;
        state_.management_connected = false;
        hooks_.changed();
      });
}

void OpenVpnDriver::detached() {
  if (management_) management_->close();
  poll_timer_.cancel();
  state_.management_connected = false;
}

void OpenVpnDriver::stop() { revocation_tick_.stop(); }

bool OpenVpnDriver::command(const std::string& line,
                            backends::OpenVpnManagement::ReplyHandler on_reply) {
  if (!management_ || !management_->connected()) return false;
  management_->command(line, line.starts_with("status"), std::move(on_reply));
  return true;
}

void OpenVpnDriver::fill(model::Snapshot& snapshot) const { snapshot.openvpn[name_] = state_; }

void OpenVpnDriver::poll() {
  if (!management_ || !management_->connected()) return;
  std::weak_ptr<char> alive = alive_;
  management_->status([this, alive](const backends::StatusReport& report) {
    // No reply (the connection dropped): keep the last list and its time, which says how old
    // it is, rather than claim a fresh empty one.
    if (alive.expired() || !report.complete) return;
    state_.clients = report.clients;
    state_.updated_ms = wallClockMs();
    if (usage_sink_) {
      const auto* config = instance();
      usage_sink_(name_, config && config->kind == config::InstanceKind::kPublic, report.clients);
    }
    state_.problems.clear();
    for (const auto& problem : report.problems) {
      state_.problems.push_back(problem.str());
      log(Level::kWarning, id_ + ": management status: " + problem.str());
    }
    hooks_.changed();
  });
  poll_timer_.expires_after(Duration(config_.supervisor.openvpn_status_interval_ms));
  poll_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) poll();
  });
}

// The per-client limit of a public instance lives on its tun device, which OpenVPN creates a
// moment after its management interface answers, and anew at every restart: try until it holds.
void OpenVpnDriver::shape(int attempt) {
  if (!rate_limiter_ || shaped_) return;
  const auto* config = instance();
  if (!config || !config->rate_limit) return;
  try {
    rate_limiter_->apply(backends::planRateLimit(*config));
    shaped_ = true;
    log(Level::kInfo, id_ + ": per-client rate limit applied on " + config->interface.str());
    return;
  } catch (const std::exception& e) {
    if (attempt >= 50) {
      log(Level::kError, id_ + ": cannot apply the rate limit: " + e.what());
      return;
    }
  }
  shape_timer_.expires_after(std::chrono::milliseconds(100));
  shape_timer_.async_wait([this, attempt](const boost::system::error_code& ec) {
    if (!ec) shape(attempt + 1);
  });
}

// A changed rate limit needs no OpenVPN restart: apply the new one (or clear the old one).
void OpenVpnDriver::reshape(const config::OpenVpnInstance& before) {
  if (!rate_limiter_) return;
  const auto* after = instance();
  bool same = after && after->rate_limit == before.rate_limit &&
              after->interface == before.interface && after->subnet == before.subnet;
  if (same) return;
  if (before.rate_limit) {
    try {
      rate_limiter_->clear(backends::planRateLimit(before));
    } catch (const std::exception& e) {
      log(Level::kWarning, "reload: clearing the old rate limit: " + std::string(e.what()));
    }
  }
  shaped_ = false;
  if (backends_.state(id_) == State::kRunning) shape(0);
}

void OpenVpnDriver::checkRevocations() {
  auto file = model::PkiLayout{config_.paths.pki_dir}.instanceCrl(name_);
  struct ::stat st {};
  std::array<std::int64_t, 3> stamp{};
  if (::stat(file.c_str(), &st) == 0) {
    stamp = {static_cast<std::int64_t>(st.st_ino), static_cast<std::int64_t>(st.st_size),
             static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec};
  }
  if (stamp == crl_seen_) return;
  // Acted on only with a management connection: until then the next tick tries again (a
  // change seen at start also ends sessions an adopted openvpn kept through a revocation).
  if (!management_ || !management_->connected()) return;
  crl_seen_ = stamp;
  std::ifstream in(file, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  std::set<std::string> names;
  for (const auto& [serial, name] : backends::revokedNamesIn(text.str())) names.insert(name);
  if (!names.empty()) endRevokedSessions(names);
}

void OpenVpnDriver::endRevokedSessions(const std::set<std::string>& names) {
  std::weak_ptr<char> alive = alive_;
  management_->status([this, alive, names](const backends::StatusReport& report) {
    if (alive.expired() || !management_ || !report.complete) return;
    for (const auto& client : report.clients) {
      if (names.count(client.common_name)) endSession(client, "revoked in the CRL file");
    }
  });
}

void OpenVpnDriver::endSessions(const std::vector<model::ConnectedClient>& clients,
                                const std::string& reason) {
  if (!management_ || !management_->connected()) return;
  for (const auto& client : clients) endSession(client, reason);
}

void OpenVpnDriver::endSession(const model::ConnectedClient& client, const std::string& reason) {
  std::weak_ptr<char> alive = alive_;
  // client-kill CID ends this one session; kill NAME would end every session of the name.
  std::string command = client.client_id ? "client-kill " + std::to_string(*client.client_id)
                                         : "kill " + client.common_name;
  std::string who = client.common_name + " (" + client.real_address + ")";
  management_->command(
      command, false, [this, alive, who, reason](bool ok, const std::vector<std::string>& reply) {
        if (alive.expired()) return;
        if (ok) {
          log(Level::kNotice, id_ + ": ended the session of " + who + ": " + reason);
          hooks_.record("operator", id_ + ": ended a session: " + reason);
          hooks_.changed();
        } else {
          log(Level::kWarning, id_ + ": could not end the session of " + who + ": " +
                                   (reply.empty() ? std::string("no reply") : reply[0]));
        }
      });
}

}  // namespace meshbroker::supervisor
