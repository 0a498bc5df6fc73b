#include "web/store.hpp"

#include "web/metrics.hpp"
#include "web/page.hpp"

namespace meshbroker::web {

View::View(model::Snapshot snapshot, BuildInfo build)
    : snapshot_(std::move(snapshot)), build_(std::move(build)) {}

const nlohmann::json& View::status(Access access) const {
  auto& views = views_[static_cast<std::size_t>(access)];
  std::call_once(views.status_once,
                 [&] { views.status = document(snapshot_, build_, Document::kStatus, access); });
  return views.status;
}

const std::string& View::json(Document which, Access access) const {
  auto& slot = views_[static_cast<std::size_t>(access)].documents[static_cast<std::size_t>(which)];
  std::call_once(slot.once, [&] {
    if (which == Document::kStatus) {
      slot.text = status(access).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    } else {
      slot.text = document(snapshot_, build_, which, access)
                      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    }
  });
  return slot.text;
}

const std::string& View::body(Body which, Access access) const {
  // Metrics without a token carry no user's name or address; with it (a scraper's bearer
  // token), also each OpenVPN user's counters.
  auto& slot = views_[static_cast<std::size_t>(access)].bodies[static_cast<std::size_t>(which)];
  std::call_once(slot.once, [&] {
    switch (which) {
      case Body::kPage:
        slot.text = renderPage(status(access));
        break;
      case Body::kLive:
        slot.text = renderLive(status(access));
        break;
      case Body::kMetrics:
        slot.text = renderMetrics(status(access));
        break;
    }
  });
  return slot.text;
}

void SnapshotStore::publish(const model::Snapshot& snapshot) {
  auto view = std::make_shared<const View>(snapshot, build_);
  std::lock_guard lock(mutex_);
  current_ = std::move(view);
}

std::shared_ptr<const View> SnapshotStore::current() const {
  std::lock_guard lock(mutex_);
  return current_;
}

}  // namespace meshbroker::web
