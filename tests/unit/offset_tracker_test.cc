#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

#include "bridge/offsets/tracker.h"

namespace bridge::offsets {
namespace {

TEST(PartitionTracker, NoPositionUntilTheFirstRecordSettles) {
  PartitionTracker t;
  EXPECT_FALSE(t.commit_position());
  ASSERT_TRUE(t.track(10));
  ASSERT_TRUE(t.track(11));
  EXPECT_FALSE(t.commit_position());
  ASSERT_TRUE(t.settle(11));
  EXPECT_FALSE(t.commit_position()) << "a later settle must not move past an unsettled record";
  ASSERT_TRUE(t.settle(10));
  EXPECT_EQ(t.commit_position(), 12);
  EXPECT_EQ(t.pending(), 0U);
}

TEST(PartitionTracker, OutOfOrderAcksOnlyAdvanceTheContiguousPrefix) {
  PartitionTracker t;
  for (std::int64_t o = 0; o < 5; ++o) {
    ASSERT_TRUE(t.track(o));
  }
  ASSERT_TRUE(t.settle(0));
  EXPECT_EQ(t.commit_position(), 1);
  ASSERT_TRUE(t.settle(3));
  ASSERT_TRUE(t.settle(4));
  EXPECT_EQ(t.commit_position(), 1) << "offset 1 is still pending";
  ASSERT_TRUE(t.settle(2));
  EXPECT_EQ(t.commit_position(), 1);
  ASSERT_TRUE(t.settle(1));
  EXPECT_EQ(t.commit_position(), 5);
}

TEST(PartitionTracker, GapsInOffsetsAreFine) {
  // Compacted topics and transaction markers leave holes in the offset sequence.
  PartitionTracker t;
  ASSERT_TRUE(t.track(100));
  ASSERT_TRUE(t.track(105));
  ASSERT_TRUE(t.track(230));
  ASSERT_TRUE(t.settle(105));
  ASSERT_TRUE(t.settle(100));
  EXPECT_EQ(t.commit_position(), 106);
  ASSERT_TRUE(t.settle(230));
  EXPECT_EQ(t.commit_position(), 231);
}

TEST(PartitionTracker, RejectsNonIncreasingAndUnknownOffsets) {
  PartitionTracker t;
  ASSERT_TRUE(t.track(7));
  EXPECT_FALSE(t.track(7));
  EXPECT_FALSE(t.track(3));
  EXPECT_FALSE(t.settle(8)) << "never tracked";
  ASSERT_TRUE(t.settle(7));
  EXPECT_FALSE(t.settle(7)) << "settled twice";
  EXPECT_EQ(t.commit_position(), 8);
}

TEST(PartitionTracker, ClearKeepsTheCommitPosition) {
  PartitionTracker t;
  ASSERT_TRUE(t.track(1));
  ASSERT_TRUE(t.track(2));
  ASSERT_TRUE(t.settle(1));
  t.clear();
  EXPECT_EQ(t.pending(), 0U);
  EXPECT_EQ(t.commit_position(), 2);
}

TEST(PartitionTracker, RandomSettleOrderMatchesAReferenceModel) {
  std::mt19937 rng(42);
  for (int round = 0; round < 50; ++round) {
    PartitionTracker t;
    std::vector<std::int64_t> offsets;
    std::int64_t o = 0;
    for (int i = 0; i < 200; ++i) {
      o += 1 + static_cast<std::int64_t>(rng() % 3);
      offsets.push_back(o);
      ASSERT_TRUE(t.track(o));
    }
    std::vector<std::int64_t> order = offsets;
    std::shuffle(order.begin(), order.end(), rng);
    std::vector<bool> settled(offsets.size(), false);
    for (auto off : order) {
      ASSERT_TRUE(t.settle(off));
      const auto idx = static_cast<std::size_t>(
          std::lower_bound(offsets.begin(), offsets.end(), off) - offsets.begin());
      settled[idx] = true;
      std::size_t prefix = 0;
      while (prefix < settled.size() && settled[prefix]) {
        ++prefix;
      }
      if (prefix == 0) {
        EXPECT_FALSE(t.commit_position());
      } else {
        EXPECT_EQ(t.commit_position(), offsets[prefix - 1] + 1);
      }
    }
  }
}

}  // namespace
}  // namespace bridge::offsets
