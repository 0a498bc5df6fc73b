// Hands the daemon's state from the event loop to the HTTP threads: each publish makes one
// immutable View behind a shared_ptr; a handler takes the current one and never waits for the
// loop. Response bodies are rendered once per view and access, on first use, by whichever thread
// asks.
#pragma once

#include <array>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>

#include "model/snapshot.hpp"
#include "web/api.hpp"

namespace meshbroker::web {

enum class Body { kPage, kLive, kMetrics };

class View {
 public:
  View(model::Snapshot snapshot, BuildInfo build);

  const model::Snapshot& snapshot() const { return snapshot_; }
  // The status document, built on first use (by an HTTP thread, not the event loop).
  const nlohmann::json& status(Access access) const;
  // The document's JSON text (compact), rendered once.
  const std::string& json(Document which, Access access) const;
  // The page and its live part as `access` may see them; /metrics is always the public view.
  const std::string& body(Body which, Access access) const;

 private:
  struct Slot {
    std::once_flag once;
    std::string text;
  };
  struct Views {  // one per Access
    std::once_flag status_once;
    nlohmann::json status;
    std::array<Slot, kDocumentCount> documents;
    std::array<Slot, 3> bodies;
  };
  model::Snapshot snapshot_;
  BuildInfo build_;
  mutable std::array<Views, 2> views_;
};

class SnapshotStore {
 public:
  explicit SnapshotStore(BuildInfo build) : build_(std::move(build)) {}
  void publish(const model::Snapshot& snapshot);
  // nullptr until the first publish.
  std::shared_ptr<const View> current() const;

 private:
  BuildInfo build_;
  mutable std::mutex mutex_;
  std::shared_ptr<const View> current_;
};

}  // namespace meshbroker::web
