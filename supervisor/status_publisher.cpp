// status.json, the web server's snapshot and systemd's status line: see status_publisher.hpp.
#include "supervisor/status_publisher.hpp"

#include "io/file_writer.hpp"
#include "io/log.hpp"
#include "supervisor/clock.hpp"
#include "supervisor/systemd_notify.hpp"

namespace meshbroker::supervisor {

using io::Level;
using io::log;

StatusPublisher::StatusPublisher(asio::io_context& io, std::filesystem::path status_file,
                                 web::BuildInfo build, Sources sources)
    : status_file_(std::move(status_file)),
      build_(std::move(build)),
      sources_(std::move(sources)),
      debounce_(io),
      tick_(io) {}

void StatusPublisher::record(std::string source, std::string what) {
  events_.push_back({wallClockMs(), std::move(source), std::move(what)});
  while (events_.size() > kEventHistory) events_.pop_front();
}

void StatusPublisher::changed() {
  ++generation_;
  if (pending_ || stopped_) return;
  pending_ = true;
  debounce_.expires_after(std::chrono::milliseconds(50));
  debounce_.async_wait([this](const boost::system::error_code& ec) {
    pending_ = false;
    if (!ec) {
      write();
      publish();
    }
  });
}

void StatusPublisher::tickEverySecond() {
  if (!publisher_) return;
  tick_.start(std::chrono::seconds(1), std::chrono::seconds(1), [this] {
    ++generation_;
    publish();
  });
}

const model::Snapshot& StatusPublisher::snapshot() {
  sources_.fill(snapshot_);
  snapshot_.generation = generation_;
  snapshot_.updated_ms = wallClockMs();
  snapshot_.events.assign(events_.begin(), events_.end());
  return snapshot_;
}

nlohmann::json StatusPublisher::document() {
  return web::document(snapshot(), build_, web::Document::kStatus, web::Access::kFull);
}

void StatusPublisher::stop() {
  stopped_ = true;
  debounce_.cancel();
  tick_.stop();
}

void StatusPublisher::removeFile() {
  std::error_code ec;
  std::filesystem::remove(status_file_, ec);
}

void StatusPublisher::publish() {
  if (publisher_) publisher_(snapshot());
}

void StatusPublisher::write() {
  try {
    io::writeFileAtomically(status_file_, document().dump(2) + "\n",
                            0640);  // users' names
  } catch (const std::exception& e) {
    log(Level::kWarning, std::string("cannot write status.json: ") + e.what());
  }
  notifySystemd("STATUS=" + sources_.status_line());
}

}  // namespace meshbroker::supervisor
