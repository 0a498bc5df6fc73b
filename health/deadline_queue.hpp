// Deadlines of outstanding work, earliest first, so that one timer serves them all (pure).
//
// The SocketProber arms a single asio timer for its earliest probe timeout instead of one
// steady_timer per probe. Most probes are answered long before their deadline; removing them
// from a binary heap would need a search, so they stay in it and the owner says which ids are
// still live whenever it looks at the front (earliest) or trims the queue (compact).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

namespace meshbroker::health {

class DeadlineQueue {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  using Id = std::uint64_t;

  void push(Id id, TimePoint deadline);

  // Takes out the earliest entry if its deadline is at or before `now` (nullopt: none is due).
  // Entries with the same deadline come out in the order they were pushed. Dead ones come out
  // too: the caller skips those.
  std::optional<Id> popDue(TimePoint now);

  // The earliest deadline of an entry for which live(id) is true (nullopt: none), dropping the
  // dead entries in front of it on the way.
  template <typename Live>
  std::optional<TimePoint> earliest(Live&& live) {
    while (!heap_.empty()) {
      if (live(heap_.front().id)) return heap_.front().deadline;
      pop();
    }
    return std::nullopt;
  }

  // Drops every entry for which live(id) is false: keeps the queue in proportion to the live
  // work when timeouts are long and most probes are answered early.
  template <typename Live>
  void compact(Live&& live) {
    std::erase_if(heap_, [&live](const Entry& entry) { return !live(entry.id); });
    heapify();
  }

  void clear() { heap_.clear(); }
  std::size_t size() const { return heap_.size(); }  // dead entries included
  bool empty() const { return heap_.empty(); }

 private:
  struct Entry {
    TimePoint deadline;
    std::uint64_t order = 0;  // push order: ties leave first in, first out
    Id id = 0;
  };
  void pop();
  void heapify();

  std::vector<Entry> heap_;  // a min-heap on (deadline, order)
  std::uint64_t next_order_ = 0;
};

}  // namespace meshbroker::health
