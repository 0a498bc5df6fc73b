// The deadline queue's heap (see deadline_queue.hpp).
#include "health/deadline_queue.hpp"

#include <algorithm>
#include <tuple>

namespace meshbroker::health {
namespace {

// std::*_heap keep the greatest element in front: "greater" puts the earliest there.
template <typename Entry>
bool later(const Entry& a, const Entry& b) {
  return std::tie(a.deadline, a.order) > std::tie(b.deadline, b.order);
}

}  // namespace

void DeadlineQueue::push(Id id, TimePoint deadline) {
  heap_.push_back({deadline, next_order_++, id});
  std::push_heap(heap_.begin(), heap_.end(), later<Entry>);
}

std::optional<DeadlineQueue::Id> DeadlineQueue::popDue(TimePoint now) {
  if (heap_.empty() || heap_.front().deadline > now) return std::nullopt;
  const Id id = heap_.front().id;
  pop();
  return id;
}

void DeadlineQueue::pop() {
  std::pop_heap(heap_.begin(), heap_.end(), later<Entry>);
  heap_.pop_back();
}

void DeadlineQueue::heapify() { std::make_heap(heap_.begin(), heap_.end(), later<Entry>); }

}  // namespace meshbroker::health
