#include "supervisor/network_sync.hpp"

#include <algorithm>
#include <future>
#include <random>
#include <utility>

#include "config/loader.hpp"
#include "io/file_writer.hpp"
#include "io/log.hpp"
#include "model/pki_layout.hpp"
#include "model/runtime_layout.hpp"
#include "network/document.hpp"
#include "network/envelope.hpp"
#include "network/invitation.hpp"
#include "network/registry.hpp"
#include "network/signing.hpp"
#include "network/update.hpp"
#include "web/client.hpp"
#include "web/server.hpp"

namespace meshbroker::supervisor {

using io::Level;
using io::log;

namespace {

constexpr auto kPullTimeout = std::chrono::seconds(2);
// After a nudge: the pace of pulls while the servers catch up (and the most a forged nudge can
// make a node pull).
constexpr auto kNudgeRetry = std::chrono::milliseconds(300);
constexpr std::size_t kMaxCrlBytes = 1024 * 1024;

// The instances' CRL files in a PKI folder (crl/<instance>.pem), and a stamp of their names,
// sizes and times that changes when any does.
std::map<std::string, std::string> readCrls(const std::filesystem::path& pki_dir,
                                            std::string* stamp, bool contents) {
  std::map<std::string, std::string> out;
  const auto dir = model::PkiLayout{pki_dir}.instanceCrl("x").parent_path();
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const auto path = entry.path();
    std::string why;
    if (path.extension() != ".pem" || !entry.is_regular_file(ec) ||
        !config::NodeName::parse(path.stem().string(), &why)) {
      continue;
    }
    const auto size = entry.file_size(ec);
    const auto time = entry.last_write_time(ec).time_since_epoch().count();
    if (stamp)
      *stamp +=
          path.stem().string() + ":" + std::to_string(size) + ":" + std::to_string(time) + ";";
    if (!contents) continue;
    if (auto text = config::readSmallFile(path, kMaxCrlBytes)) out[path.stem().string()] = *text;
  }
  return out;
}

}  // namespace

NetworkSync::NetworkSync(asio::io_context& io, const config::NodeConfig& config, PartHooks hooks)
    : io_(io),
      config_(config),
      hooks_(std::move(hooks)),
      crl_watch_(io),
      poll_(io),
      listen_retry_(io),
      nudge_retry_(io) {}

NetworkSync::~NetworkSync() {
  alive_.reset();
  stop();
}

std::optional<model::NetworkSnapshot> NetworkSync::state() const {
  if (!config_.network) return std::nullopt;
  auto out = state_;
  out.serving = server_ != nullptr;
  if (held_) {
    out.version = held_->version;
    out.issued_ms = held_->issued_ms;
    out.nodes = held_->nodes.size();
    out.removed = held_->removed;
  }
  return out;
}

void NetworkSync::configure() {
  if (!config_.network) {
    stop();
    return;
  }
  stopping_ = false;
  prepare();
  if (state_.is_registry) {
    poll_.cancel();
    publish();
    watchCrls();
    listenForJoins();
  } else {
    crl_watch_.cancel();
    listenForJoins();  // stops one left from when this node was the registry
    applyCrls();
    schedulePoll(std::chrono::seconds(1));  // tinc-up first: the mesh is not there yet
  }
  listen();
  listenForNudges();
}

void NetworkSync::prepare() {
  if (!config_.network) return;
  const auto& net = *config_.network;
  state_.name = net.name.str();
  state_.registry = net.registry.str();
  state_.is_registry = config_.isRegistry();
  try {
    state_.key_fingerprint = network::fingerprintOf(net.key);
  } catch (const network::CryptoError& e) {
    state_.key_fingerprint.clear();
    refuse("config", std::string("network.key: ") + e.what());
  }
  if (!loaded_) {
    loadHeld();
    if (state_.is_registry) loadRegistryState();
  }
  loaded_ = true;
}

void NetworkSync::loadRegistryState() {
  const auto path = model::StateLayout{config_.paths.state_dir}.registryState();
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return;  // a new registry: nobody joined yet
  auto text = config::readSmallFile(path, network::kMaxEnvelopeBytes);
  auto parsed = text ? network::parseRegistryState(*text)
                     : network::ParsedRegistryState{std::nullopt, "cannot read it"};
  if (!parsed.state) {
    // Never as if empty: that would bring removed nodes back into the network.
    registry_state_error_ =
        path.string() + ": " + parsed.error + "; not publishing until it is mended or moved away";
    return;
  }
  registry_state_ = std::move(*parsed.state);
  registry_state_error_.clear();
}

model::NetworkDocument NetworkSync::describe(const config::NodeConfig& file) {
  file_ = file;
  return network::describeNetwork(file, readCrls(file.paths.pki_dir, nullptr, true),
                                  registry_state_);
}

std::string NetworkSync::removeNode(const std::string& name) {
  if (!config_.network || !state_.is_registry) {
    return "this node is not the network's registry" +
           (config_.network ? " (" + config_.network->registry.str() + " is)" : std::string());
  }
  if (!registry_state_error_.empty()) return registry_state_error_;
  auto next = registry_state_;
  auto why = network::removeNode(next, describe(file_ ? *file_ : config_), config_.name.str(), name,
                                 wallClockMs());
  if (!why.empty()) return why;
  if (auto failed = keepRegistryState(std::move(next)); !failed.empty()) return failed;
  log(Level::kNotice, "network: removed " + name + " from " + state_.name);
  hooks_.record("network", "removed node " + name);
  return {};
}

std::string NetworkSync::keepRegistryState(network::RegistryState next) {
  const model::StateLayout layout{config_.paths.state_dir};
  try {
    std::error_code ec;
    std::filesystem::create_directories(layout.networkDir(), ec);
    io::writeFileAtomically(layout.registryState(), network::toJson(next).dump(2) + "\n", 0600);
  } catch (const io::WriteError& e) {
    return std::string("cannot keep it in the registry's record: ") + e.what();
  }
  registry_state_ = std::move(next);
  return {};
}

NetworkSync::InviteReply NetworkSync::invite(const network::InviteAsk& ask, std::int64_t ttl_ms,
                                             const std::string& host) {
  InviteReply out;
  if (!config_.network || !state_.is_registry) {
    out.error = "this node is not the network's registry";
    return out;
  }
  if (!registry_state_error_.empty()) {
    out.error = registry_state_error_;
    return out;
  }
  const auto& file = file_ ? *file_ : config_;
  std::string address = host;
  if (address.empty() && file.tinc.public_endpoint) {
    address = file.tinc.public_endpoint->address.str();
  }
  if (address.empty()) {
    out.error =
        "this registry has no public address in its config (tinc.public_address); say "
        "where joiners reach it with --address";
    return out;
  }
  std::string why;
  if (!config::HostAddress::parse(address, &why)) {
    out.error = "--address " + address + ": " + why;
    return out;
  }
  auto next = registry_state_;
  const auto token = network::newToken();
  auto made = network::invite(next, describe(file), file.tinc.prefix, ask, token, wallClockMs(),
                              ttl_ms, file.tinc.prefix6);
  if (!made.error.empty()) {
    out.error = made.error;
    return out;
  }
  if (auto failed = keepRegistryState(std::move(next)); !failed.empty()) {
    out.error = failed;
    return out;
  }
  out.invitation = made.invitation;
  out.line = "meshbroker join " +
             network::formatInvitation(
                 {address, static_cast<std::uint16_t>(config_.network->join_port.value()), token,
                  state_.key_fingerprint});
  log(Level::kNotice,
      "network: invitation " + made.invitation.id + " for " + ask.name + " (" + ask.role + ", " +
          made.invitation.mesh_address +
          (made.invitation.mesh_address6.empty() ? std::string()
                                                 : " and " + made.invitation.mesh_address6) +
          ")");
  hooks_.record("network", "invited " + ask.name);
  return out;
}

std::string NetworkSync::revokeInvitation(const std::string& id_or_token) {
  if (!config_.network || !state_.is_registry) return "this node is not the network's registry";
  if (!registry_state_error_.empty()) return registry_state_error_;
  auto next = registry_state_;
  if (auto why = network::revokeInvitation(next, id_or_token); !why.empty()) return why;
  if (auto failed = keepRegistryState(std::move(next)); !failed.empty()) return failed;
  hooks_.record("network", "revoked an invitation");
  return {};
}

web::Response NetworkSync::join(const std::string& body, const std::string& from) {
  auto answer = [](int status, const std::string& message) {
    web::Response r;
    r.status = status;
    r.body = nlohmann::json{{"error", message}}.dump();
    return r;
  };
  if (!config_.network || !state_.is_registry || !file_) {
    return answer(503, "this node is not taking joins now");
  }
  if (!registry_state_error_.empty()) return answer(503, "the registry cannot keep a join now");
  const auto signing_key = config::readSmallFile(config_.network->signing_key_file, 64 * 1024);
  if (!signing_key) return answer(503, "the registry has no signing key");
  auto next = registry_state_;
  auto admission = network::admit(next, describe(*file_), body, wallClockMs(), from);
  if (!admission.error.empty()) {
    log(Level::kWarning, "network: join refused from " + from + ": " + admission.error);
    hooks_.record("network", "join refused from " + from + ": " + admission.error);
    return answer(admission.status, admission.error);
  }
  // Used before any reply: a second or racing request for this invitation fails from here on.
  if (auto failed = keepRegistryState(std::move(next)); !failed.empty()) {
    return answer(503, failed);
  }
  publish();  // the next version, with the node
  const auto& node = *admission.node;
  const auto skeleton = network::joinSkeleton(*file_, *held_, node);
  web::Response r;
  try {
    r.body = network::sealJoinReply({{"config", skeleton}, {"envelope", held_envelope_}},
                                    admission.nonce, *signing_key);
  } catch (const network::CryptoError& e) {
    return answer(503, std::string("cannot sign the answer: ") + e.what());
  }
  const auto line = node.name + " joined as a " + node.role + " at " + node.mesh_address +
                    (node.mesh_address6 ? " and " + *node.mesh_address6 : std::string()) +
                    " (from " + from + ")";
  log(Level::kNotice, "network: " + line);
  hooks_.record("network", line);
  if (on_new_) on_new_();  // apply it here too: a host file for the new node
  return r;
}

void NetworkSync::listenForJoins() {
  const bool wanted = config_.network && state_.is_registry && !stopping_;
  const int port = wanted ? config_.network->join_port.value() : 0;
  if (join_server_ && join_port_ == port) return;
  if (join_server_) join_server_->stop();
  join_server_.reset();
  join_port_ = 0;
  if (!wanted) return;
  if (!join_handler_) {
    std::weak_ptr<bool> alive = alive_;
    join_handler_ = std::make_unique<web::JoinHandler>(
        [this, alive](const std::string& body, const std::string& remote) {
          // On the listener's thread: the work is the loop's; wait for it here.
          auto promise = std::make_shared<std::promise<web::Response>>();
          auto future = promise->get_future();
          asio::post(io_, [this, alive, promise, body, remote] {
            if (!alive.lock())
              return promise->set_value(web::Response{503, "application/json", "{}", {}});
            promise->set_value(join(body, remote));
          });
          if (future.wait_for(std::chrono::seconds(5)) != std::future_status::ready) {
            return web::Response{503, "application/json", "{\"error\":\"busy\"}", {}};
          }
          return future.get();
        });
  }
  web::ServerOptions options;
  options.listen = "0.0.0.0";
  options.port = port;
  options.threads = 1;
  options.max_body = network::kMaxJoinRequestBytes;
  try {
    join_server_ = web::startServer(*join_handler_, options);
  } catch (const std::exception& e) {
    refuse("join", std::string("cannot listen for joins: ") + e.what());
    return;
  }
  join_port_ = port;
  log(Level::kInfo, "network: taking joins on port " + std::to_string(port) + web::kJoinPath);
}

void NetworkSync::watchCrls() {
  crl_watch_.cancel();
  crl_watch_.expires_after(std::chrono::seconds(1));
  crl_watch_.async_wait([this](const boost::system::error_code& ec) {
    if (ec || stopping_) return;
    std::string stamp;
    readCrls((file_ ? *file_ : config_).paths.pki_dir, &stamp, false);
    if (stamp != crl_stamp_) publish();  // a revocation, or the CA holder's refresh
    watchCrls();
  });
}

void NetworkSync::applyCrls() {
  if (!held_ || held_->network != state_.name) return;
  const model::PkiLayout pki{config_.paths.pki_dir};
  for (const auto& instance : config_.openvpn) {
    const auto name = instance.name.str();
    auto crl = held_->crls.find(name);
    if (crl == held_->crls.end()) continue;
    std::error_code ec;
    if (std::filesystem::exists(pki.instanceCaKey(name), ec)) continue;  // it makes its own
    const auto file = pki.instanceCrl(name);
    if (config::readSmallFile(file, kMaxCrlBytes) == crl->second) continue;
    try {
      std::filesystem::create_directories(file.parent_path(), ec);
      io::writeFileAtomically(file, crl->second, 0644);
    } catch (const io::WriteError& e) {
      refuse("crl", std::string("cannot replace the CRL of ") + name + ": " + e.what());
      continue;
    }
    const auto line = "CRL of " + name + " replaced from version " + std::to_string(held_->version);
    log(Level::kNotice, "network: " + line);
    hooks_.record("network", line);
  }
}

void NetworkSync::loadHeld() {
  const auto path = model::StateLayout{config_.paths.state_dir}.networkDocument();
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return;
  auto text = config::readSmallFile(path, network::kMaxEnvelopeBytes);
  if (!text) {
    refuse("state", "cannot read " + path.string() + "; waiting for a fresh document");
    return;
  }
  auto opened = network::openEnvelope(*text, config_.network->key);
  if (!opened.document) {
    refuse("state", "ignored " + path.string() + ": " + opened.error);
    return;
  }
  auto decision = network::decideUpdate(std::nullopt, state_.name, *opened.document);
  if (decision.verdict != network::UpdateVerdict::kAccept) {
    refuse("state", "ignored " + path.string() + ": " + decision.reason);
    return;
  }
  hold(*text, *opened.document);
  log(Level::kInfo, "network: holding version " + std::to_string(held_->version) + " of " +
                        state_.name + " from " + path.string());
}

void NetworkSync::publish() {
  const auto& file = config_.network->signing_key_file;
  auto key = config::readSmallFile(file, 64 * 1024);
  if (!key) {
    refuse("registry", "no signing key at " + file.string() +
                           " (make it once with `meshbroker network init --key-file " +
                           file.string() + "`); not publishing");
    return;
  }
  std::string document_key;
  try {
    document_key = network::publicKeyOf(*key);
  } catch (const network::CryptoError& e) {
    refuse("registry", file.string() + ": " + e.what() + "; not publishing");
    return;
  }
  if (document_key != config_.network->key) {
    refuse("registry", "the signing key at " + file.string() + " (" +
                           network::fingerprintOf(document_key) +
                           ") is not the key network.key pins (" + state_.key_fingerprint +
                           "); not publishing");
    return;
  }
  if (!registry_state_error_.empty()) return refuse("registry", registry_state_error_);
  const auto& described_file = file_ ? *file_ : config_;
  std::string stamp;
  auto described = network::describeNetwork(
      described_file, readCrls(described_file.paths.pki_dir, &stamp, true), registry_state_);
  crl_stamp_ = stamp;
  auto next = network::nextVersion(held_, std::move(described), wallClockMs());
  if (!next) return;  // the config describes the network the held document already says
  // Every node parses what we sign as untrusted text: if it would refuse it, say so here.
  if (auto check = network::parseDocument(network::documentText(*next)); !check.document) {
    return refuse("registry", "not publishing a document nodes would refuse: " + check.error);
  }
  const auto envelope = network::sealDocument(*next, *key);
  if (keep(envelope, *next)) {
    state_.last_error.clear();
    const auto line = "signed version " + std::to_string(next->version) + " of " + state_.name +
                      " (" + std::to_string(next->nodes.size()) + " nodes)";
    log(Level::kNotice, "network: " + line);
    hooks_.record("network", line);
    sendNudges(*next);
  }
}

void NetworkSync::sendNudges(const model::NetworkDocument& document) {
  boost::system::error_code ec;
  asio::ip::udp::socket socket(io_);
  socket.open(asio::ip::udp::v4(), ec);
  if (!ec) socket.non_blocking(true, ec);
  if (ec) {
    log(Level::kWarning, "network: cannot nudge the nodes (" + ec.message() +
                             "); they take version " + std::to_string(document.version) +
                             " at their next poll");
    return;
  }
  const auto text = network::nudgeText({document.network, document.version});
  const auto port = config_.network->port.value();
  int sent = 0;
  for (const auto& node : document.nodes) {
    if (node.name == config_.name.str()) continue;
    const auto address = asio::ip::make_address_v4(node.mesh_address, ec);
    if (ec) continue;
    socket.send_to(asio::buffer(text), asio::ip::udp::endpoint(address, port), 0, ec);
    if (!ec) ++sent;  // unreachable now (the mesh not up yet): its poll takes it
  }
  log(Level::kDebug, "network: nudged " + std::to_string(sent) + " nodes to version " +
                         std::to_string(document.version));
}

void NetworkSync::listenForNudges() {
  if (state_.is_registry || stopping_ || !config_.network) return closeNudges();
  const auto address =
      config_.tinc.address.str() + ":" + std::to_string(config_.network->port.value());
  if (nudge_socket_ && nudge_address_ == address) return;
  closeNudges();
  boost::system::error_code ec;
  auto socket = std::make_unique<asio::ip::udp::socket>(io_);
  socket->open(asio::ip::udp::v4(), ec);
  if (!ec) {
    socket->bind(
        asio::ip::udp::endpoint(asio::ip::make_address_v4(config_.tinc.address.str()),
                                static_cast<unsigned short>(config_.network->port.value())),
        ec);
  }
  if (ec) {
    // Until tinc-up has given the interface its address; the poll works meanwhile.
    log(Level::kDebug, "network: not taking nudges yet: " + ec.message());
    nudge_retry_.expires_after(std::chrono::seconds(1));
    nudge_retry_.async_wait([this](const boost::system::error_code& e) {
      if (!e) listenForNudges();
    });
    return;
  }
  nudge_socket_ = std::move(socket);
  nudge_address_ = address;
  log(Level::kInfo, "network: taking nudges on udp " + address);
  receiveNudge();
}

void NetworkSync::receiveNudge() {
  std::weak_ptr<bool> alive = alive_;
  auto* socket = nudge_socket_.get();
  socket->async_receive_from(
      asio::buffer(nudge_buffer_), nudge_from_,
      [this, alive, socket](const boost::system::error_code& ec, std::size_t size) {
        // A closed or replaced socket: its last receive ends here, touching nothing.
        if (ec == asio::error::operation_aborted || !alive.lock()) return;
        if (nudge_socket_.get() != socket) return;
        if (!ec) {
          nudged(std::string_view(nudge_buffer_.data(), size), nudge_from_.address().to_string());
        }
        receiveNudge();
      });
}

void NetworkSync::closeNudges() {
  nudge_retry_.cancel();
  if (nudge_socket_) {
    boost::system::error_code ignored;
    nudge_socket_->close(ignored);
  }
  nudge_socket_.reset();
  nudge_address_.clear();
}

void NetworkSync::nudged(std::string_view datagram, const std::string& from) {
  if (!config_.network || stopping_ || state_.is_registry) return;
  auto nudge = network::parseNudge(datagram);
  if (!nudge || nudge->network != state_.name) {
    log(Level::kDebug,
        "network: ignored a datagram from " + from + " that is no nudge for " + state_.name);
    return;
  }
  if (!follow_.nudge(nudge->version, held_ ? held_->version : 0)) return;
  log(Level::kInfo, "network: " + from + " says version " + std::to_string(nudge->version) +
                        " exists; pulling now");
  if (pulling_) return;  // that pull's end follows the nudge
  // At most one pull per kNudgeRetry, however many nudges arrive.
  const auto since = Clock::now() - last_nudged_pull_;
  last_nudged_pull_ = Clock::now();
  schedulePoll(since >= kNudgeRetry ? Duration(0)
                                    : std::chrono::duration_cast<Duration>(kNudgeRetry - since));
}

bool NetworkSync::keep(const std::string& envelope, const model::NetworkDocument& document) {
  const model::StateLayout layout{config_.paths.state_dir};
  try {
    std::error_code ec;
    std::filesystem::create_directories(layout.networkDir(), ec);
    io::writeFileAtomically(layout.networkDocument(), envelope, 0644);
  } catch (const io::WriteError& e) {
    refuse("state", std::string("cannot keep version ") + std::to_string(document.version) + ": " +
                        e.what() + "; still holding the previous one");
    return false;
  }
  hold(envelope, document);
  hooks_.changed();
  return true;
}

void NetworkSync::hold(const std::string& envelope, const model::NetworkDocument& document) {
  held_ = document;
  held_envelope_ = envelope;
  handler_.hold(envelope);
  state_.held_since_ms = wallClockMs();
}

void NetworkSync::listen() {
  if (config_.role != config::Role::kServer || stopping_) {
    if (server_) server_->stop();
    server_.reset();
    return;
  }
  web::ServerOptions options;
  options.listen = config_.tinc.address.str();
  options.port = config_.network->port.value();
  options.threads = 1;
  options.max_body = 1024;  // it only answers GETs
  const auto address = options.listen + ":" + std::to_string(options.port);
  if (server_ && server_address_ == address) return;
  if (server_) server_->stop();
  server_.reset();
  try {
    server_ = web::startServer(handler_, options);
  } catch (const std::exception& e) {
    // Until tinc-up has given the interface its address. Quietly: this is every start.
    log(Level::kDebug, std::string("network: not serving yet: ") + e.what());
    listen_retry_.expires_after(std::chrono::seconds(1));
    listen_retry_.async_wait([this](const boost::system::error_code& ec) {
      if (!ec) listen();
    });
    return;
  }
  server_address_ = address;
  log(Level::kInfo,
      "network: serving the network document on http://" + address + web::kNetworkPath);
  hooks_.changed();
}

void NetworkSync::schedulePoll(Duration after) {
  poll_.cancel();
  poll_.expires_after(after);
  poll_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) pollNow();
  });
}

std::vector<NetworkSync::PullTarget> NetworkSync::pullTargets() const {
  std::vector<PullTarget> targets;
  for (const auto& name : config_.tinc.connect_to) {
    const auto* host = config_.findHost(name);
    if (host && host->role == config::Role::kServer) {
      targets.push_back({name.str(), host->mesh_address.str()});
    }
  }
  return targets;
}

void NetworkSync::peerUp(const std::string& peer) {
  if (stopping_ || !config_.network || state_.is_registry) return;
  const auto targets = pullTargets();
  if (std::none_of(targets.begin(), targets.end(),
                   [&peer](const PullTarget& target) { return target.name == peer; })) {
    return;
  }
  log(Level::kInfo, "network: " + peer + " is reachable: pulling the network document now");
  if (pulling_) {
    pull_again_ = true;
    return;
  }
  schedulePoll(Duration(0));
}

void NetworkSync::pollNow() {
  if (stopping_ || !config_.network) return;
  const auto period = std::chrono::milliseconds(config_.network->poll_ms);
  if (pulling_) return schedulePoll(period);
  auto targets = pullTargets();
  if (targets.empty()) {
    refuse("config", "no ConnectTo server to pull the network document from");
    return schedulePoll(period);
  }
  if (worker_.joinable()) worker_.join();  // finished: pulling_ is false
  pulling_ = true;
  pull_started_ = Clock::now();
  const int port = config_.network->port.value();
  std::weak_ptr<bool> alive = alive_;
  worker_ = std::thread([this, targets, port, alive] {
    Pull pull;
    for (const auto& target : targets) {
      if (stopping_) break;
      auto reply = web::httpGet(target.address, port, web::kNetworkPath, kPullTimeout,
                                network::kMaxEnvelopeBytes);
      pull.from = target.name;
      if (reply.connect_timed_out) pull.silent.push_back(target.name);
      if (reply.ok && reply.status == 200) {
        pull.envelope = std::move(reply.body);
        pull.error.clear();
        break;
      }
      if (!pull.error.empty()) pull.error += "; ";
      pull.error +=
          target.name + ": " + (reply.ok ? "HTTP " + std::to_string(reply.status) : reply.error);
    }
    asio::post(io_, [this, alive, pull = std::move(pull)]() mutable {
      if (alive.lock()) finishPull(std::move(pull));
    });
  });
}

void NetworkSync::finishPull(Pull pull) {
  pulling_ = false;
  const bool server_came_up = std::exchange(pull_again_, false);
  if (stopping_) return;
  // Silent servers keep the time their silence began; any other outcome (an answer, or not
  // tried this time) ends it.
  std::map<std::string, TimePoint> unanswered;
  for (const auto& name : pull.silent) {
    auto before = unanswered_.find(name);
    unanswered[name] = before != unanswered_.end() ? before->second : pull_started_;
  }
  unanswered_ = std::move(unanswered);
  if (pull.envelope.empty()) {
    ++failed_pulls_;
    refuse("pull", "no server gave the document (" + pull.error + "); keeping version " +
                       std::to_string(held_ ? held_->version : 0));
  } else {
    failed_pulls_ = 0;
    state_.last_pull_ms = wallClockMs();
    state_.last_pull_from = pull.from;
    offer(pull.envelope, pull.from);
  }
  // Nudged to a version its servers did not have yet: ask again soon.
  if (follow_.pullAgain(held_ ? held_->version : 0)) {
    last_nudged_pull_ = Clock::now();
    return schedulePoll(kNudgeRetry);
  }
  // ±10 %, so the gateways of one network do not ask in step.
  static thread_local std::minstd_rand random{std::random_device{}()};
  const auto period = config_.network->poll_ms;
  std::uniform_int_distribution<int> jitter(-period / 10, period / 10);
  auto next = std::chrono::milliseconds(period + jitter(random));
  // No server answered (the mesh still coming up, a server restarting): try again after 1, 2,
  // 4, ... s, up to the period, rather than a whole period later; at once when a server came
  // up while this pull was under way.
  if (failed_pulls_ > 0) {
    next = std::min(next, std::chrono::milliseconds(1000 << std::min(failed_pulls_ - 1, 12)));
    if (server_came_up) next = std::chrono::milliseconds(0);
    log(Level::kInfo, "network: no document from the servers (" + std::to_string(failed_pulls_) +
                          " tries in a row); next try in " + std::to_string(next.count()) + " ms");
  }
  schedulePoll(next);
}

void NetworkSync::offer(const std::string& envelope, const std::string& from) {
  if (!config_.network) return;
  auto opened = network::openEnvelope(envelope, config_.network->key);
  if (!opened.document) return refuse(from, opened.error);
  auto decision = network::decideUpdate(held_, state_.name, *opened.document);
  switch (decision.verdict) {
    case network::UpdateVerdict::kAccept:
      if (keep(envelope, *opened.document)) {
        const auto line = "took " + decision.reason + " from " + from + " (" +
                          std::to_string(opened.document->nodes.size()) + " nodes)";
        log(Level::kNotice, "network: " + line);
        hooks_.record("network", line);
        state_.last_error.clear();
        applyCrls();
        if (on_new_) on_new_();
      }
      return;
    case network::UpdateVerdict::kSame:
      if (!state_.last_error.empty()) {
        state_.last_error.clear();
        hooks_.changed();
      }
      return;
    case network::UpdateVerdict::kOlder:
    case network::UpdateVerdict::kOtherNetwork:
      return refuse(from, decision.reason);
  }
}

void NetworkSync::refuse(const std::string& from, const std::string& why) {
  const auto text = from + ": " + why;
  state_.last_error_ms = wallClockMs();
  if (text == state_.last_error) return;  // said once; status keeps showing it
  state_.last_error = text;
  log(Level::kWarning, "network: " + text);
  hooks_.record("network", text);
  hooks_.changed();
}

void NetworkSync::stop() {
  stopping_ = true;
  poll_.cancel();
  crl_watch_.cancel();
  listen_retry_.cancel();
  closeNudges();
  if (server_) server_->stop();
  server_.reset();
  if (join_server_) join_server_->stop();
  join_server_.reset();
  join_port_ = 0;
  if (worker_.joinable()) worker_.join();
  pulling_ = false;
}

}  // namespace meshbroker::supervisor
