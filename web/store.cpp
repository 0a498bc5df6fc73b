#include "web/store.hpp"

#include "web/metrics.hpp"
#include "web/page.hpp"

namespace meshbroker::web {

View::View(supervisor::Snapshot snapshot, BuildInfo build)
    : snapshot_(std::move(snapshot)), build_(std::move(build)) {}

const nlohmann::json& View::status() const {
  std::call_once(status_once_,
                 [this] { status_ = document(snapshot_, build_, Document::kStatus); });
  return status_;
}

const std::string& View::json(Document which) const {
  auto& slot = documents_[static_cast<std::size_t>(which)];
  std::call_once(slot.once, [&] {
    if (which == Document::kStatus) {
      slot.text = status().dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    } else {
      slot.text = document(snapshot_, build_, which)
                      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    }
  });
  return slot.text;
}

const std::string& View::body(Body which) const {
  auto& slot = bodies_[static_cast<std::size_t>(which)];
  std::call_once(slot.once, [&] {
    switch (which) {
      case Body::kPage:
        slot.text = renderPage(status());
        break;
      case Body::kLive:
        slot.text = renderLive(status());
        break;
      case Body::kMetrics:
        slot.text = renderMetrics(status());
        break;
    }
  });
  return slot.text;
}

void SnapshotStore::publish(const supervisor::Snapshot& snapshot) {
  auto view = std::make_shared<const View>(snapshot, build_);
  std::lock_guard lock(mutex_);
  current_ = std::move(view);
}

std::shared_ptr<const View> SnapshotStore::current() const {
  std::lock_guard lock(mutex_);
  return current_;
}

}  // namespace meshbroker::web
