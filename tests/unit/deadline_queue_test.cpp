// The probe timeouts' deadline queue: earliest first, ties in push order, nothing before its
// time, dead entries skipped at the front and dropped by compact().
#include "health/deadline_queue.hpp"

#include <gtest/gtest.h>

#include <set>
#include <vector>

namespace meshbroker::health {
namespace {

using namespace std::chrono_literals;
using TimePoint = DeadlineQueue::TimePoint;

const TimePoint kStart{std::chrono::seconds(1000)};

std::vector<DeadlineQueue::Id> popAllDue(DeadlineQueue& queue, TimePoint now) {
  std::vector<DeadlineQueue::Id> ids;
  while (auto id = queue.popDue(now)) ids.push_back(*id);
  return ids;
}

TEST(DeadlineQueue, EmptyHasNothingDueAndNoEarliest) {
  DeadlineQueue queue;
  EXPECT_TRUE(queue.empty());
  EXPECT_FALSE(queue.popDue(kStart + 1h));
  EXPECT_FALSE(queue.earliest([](DeadlineQueue::Id) { return true; }));
}

TEST(DeadlineQueue, ComesOutEarliestFirstAndNothingBeforeItsTime) {
  DeadlineQueue queue;
  queue.push(1, kStart + 300ms);
  queue.push(2, kStart + 100ms);
  queue.push(3, kStart + 200ms);
  queue.push(4, kStart + 50ms);
  EXPECT_EQ(queue.size(), 4U);
  EXPECT_EQ(queue.earliest([](DeadlineQueue::Id) { return true; }), kStart + 50ms);
  EXPECT_TRUE(popAllDue(queue, kStart + 49ms).empty()) << "nothing is due before its deadline";
  EXPECT_EQ(popAllDue(queue, kStart + 100ms), (std::vector<DeadlineQueue::Id>{4, 2}))
      << "a deadline equal to now is due";
  EXPECT_EQ(queue.earliest([](DeadlineQueue::Id) { return true; }), kStart + 200ms);
  EXPECT_EQ(popAllDue(queue, kStart + 1s), (std::vector<DeadlineQueue::Id>{3, 1}));
  EXPECT_TRUE(queue.empty());
}

TEST(DeadlineQueue, EqualDeadlinesComeOutInPushOrder) {
  DeadlineQueue queue;
  for (DeadlineQueue::Id id = 1; id <= 50; ++id) queue.push(id, kStart + 10ms);
  queue.push(99, kStart + 5ms);
  std::vector<DeadlineQueue::Id> expected{99};
  for (DeadlineQueue::Id id = 1; id <= 50; ++id) expected.push_back(id);
  EXPECT_EQ(popAllDue(queue, kStart + 10ms), expected);
}

TEST(DeadlineQueue, EarliestSkipsAndDropsDeadEntriesInFront) {
  DeadlineQueue queue;
  for (DeadlineQueue::Id id = 1; id <= 5; ++id) queue.push(id, kStart + id * 10ms);
  std::set<DeadlineQueue::Id> live{4, 5};
  auto isLive = [&live](DeadlineQueue::Id id) { return live.contains(id); };
  EXPECT_EQ(queue.earliest(isLive), kStart + 40ms);
  EXPECT_EQ(queue.size(), 2U) << "1, 2 and 3 were dead and in front: dropped";
  live.clear();
  EXPECT_FALSE(queue.earliest(isLive));
  EXPECT_TRUE(queue.empty());
}

TEST(DeadlineQueue, DeadEntriesBehindALiveOneStayUntilTheyReachTheFront) {
  DeadlineQueue queue;
  queue.push(1, kStart + 10ms);
  queue.push(2, kStart + 20ms);
  queue.push(3, kStart + 30ms);
  EXPECT_EQ(queue.earliest([](DeadlineQueue::Id id) { return id != 2; }), kStart + 10ms);
  EXPECT_EQ(queue.size(), 3U);
  // popDue hands out dead ones too: the owner knows which ids are gone.
  EXPECT_EQ(popAllDue(queue, kStart + 30ms), (std::vector<DeadlineQueue::Id>{1, 2, 3}));
}

TEST(DeadlineQueue, CompactKeepsOnlyTheLiveInOrder) {
  DeadlineQueue queue;
  for (DeadlineQueue::Id id = 1; id <= 100; ++id) {
    queue.push(id, kStart + std::chrono::milliseconds((id * 37) % 101));
  }
  queue.compact([](DeadlineQueue::Id id) { return id % 10 == 0; });
  EXPECT_EQ(queue.size(), 10U);
  auto ids = popAllDue(queue, kStart + 1s);
  ASSERT_EQ(ids.size(), 10U);
  for (std::size_t i = 1; i < ids.size(); ++i) {
    EXPECT_EQ(ids[i] % 10, 0U);
    EXPECT_LE((ids[i - 1] * 37) % 101, (ids[i] * 37) % 101) << "still earliest first";
  }
}

TEST(DeadlineQueue, PushAfterPopsAndClear) {
  DeadlineQueue queue;
  queue.push(1, kStart + 10ms);
  queue.push(2, kStart + 30ms);
  EXPECT_EQ(popAllDue(queue, kStart + 10ms), (std::vector<DeadlineQueue::Id>{1}));
  queue.push(3, kStart + 20ms);  // earlier than what is left
  EXPECT_EQ(queue.earliest([](DeadlineQueue::Id) { return true; }), kStart + 20ms);
  queue.clear();
  EXPECT_TRUE(queue.empty());
  queue.push(4, kStart);
  EXPECT_EQ(popAllDue(queue, kStart), (std::vector<DeadlineQueue::Id>{4}));
}

}  // namespace
}  // namespace meshbroker::health
