// The daemon's state, published: assembles the snapshot (model/snapshot.hpp) from the parts
// that hold it, keeps the recent events, writes status.json (debounced, 50 ms), hands each new
// snapshot to the web server, and tells systemd a one-line status. status.json, the control
// socket's status and the API's /api/v1/status (full view) are one document: web::document.
#pragma once

#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <string>

#include "io/asio.hpp"
#include "model/snapshot.hpp"
#include "supervisor/clock.hpp"
#include "supervisor/periodic.hpp"
#include "web/api.hpp"

namespace meshbroker::supervisor {

class StatusPublisher {
 public:
  static constexpr std::size_t kEventHistory = 100;
  using Publisher = std::function<void(const model::Snapshot&)>;
  struct Sources {
    // Everything but generation, updated_ms and events (which this class keeps).
    std::function<void(model::Snapshot&)> fill;
    // systemd's STATUS= line for the current state ("running", "FAILED backends: tinc").
    std::function<std::string()> status_line;
  };

  StatusPublisher(asio::io_context& io, std::filesystem::path status_file, web::BuildInfo build,
                  Sources sources);

  void setPublisher(Publisher publisher) { publisher_ = std::move(publisher); }
  // An event worth showing an operator (oldest dropped after kEventHistory).
  void record(std::string source, std::string what);
  // Something changed: a new generation now, status.json and the publisher soon.
  void changed();
  // Every second: a new generation for the web server even without a change (RTT and loss
  // move without one). Only while something is published.
  void tickEverySecond();
  const model::Snapshot& snapshot();
  // The status document of the current snapshot, as /api/v1/status shows it with the token.
  nlohmann::json document();
  // Shutdown (or handover) begins: no more writes or ticks...
  void stop();
  // ... and when it ends, status.json goes.
  void removeFile();

 private:
  void publish();
  void write();

  std::filesystem::path status_file_;
  web::BuildInfo build_;
  Sources sources_;
  Publisher publisher_;
  Timer debounce_;
  Periodic tick_;
  std::deque<model::EventSnapshot> events_;
  model::Snapshot snapshot_;
  std::uint64_t generation_ = 0;
  bool pending_ = false;
  bool stopped_ = false;
};

}  // namespace meshbroker::supervisor
