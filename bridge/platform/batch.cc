#include "bridge/platform/batch.h"

#include <algorithm>

namespace bridge::platform {

void plan_batch(const PartitionQueues& partitions, std::size_t cursor, const BatchLimits& limits,
                BatchPlan& plan) {
  plan.takes.clear();
  plan.count = 0;
  plan.bytes = kRequestFraming;
  plan.full = false;
  plan.oldest = Clock::time_point::max();
  const std::size_t n = partitions.size();
  const auto with_work = static_cast<std::size_t>(
      std::count_if(partitions.begin(), partitions.end(),
                    [](const PartitionQueue& p) { return p.busy || !p.queue.empty(); }));
  const std::size_t slots = std::max<std::size_t>(1, limits.concurrency);
  const std::size_t max_partitions = std::max<std::size_t>(1, (with_work + slots - 1) / slots);
  std::size_t limit = limits.max_messages;
  for (std::size_t k = 0; k < n && !plan.full && plan.takes.size() < max_partitions; ++k) {
    const auto pid = static_cast<std::uint32_t>((cursor + k) % n);
    const PartitionQueue& part = partitions[pid];
    if (part.busy || part.queue.empty() || part.queue.front().inlet != limits.inlet) {
      continue;
    }
    std::size_t take = 0;
    for (const Item& item : part.queue) {
      if (item.inlet != limits.inlet || (part.take_limit > 0 && take >= part.take_limit)) {
        break;
      }
      const std::size_t item_limit = item.max_batch > 0 ? std::min(limit, item.max_batch) : limit;
      const std::size_t add = item.message.size() + (plan.count > 0 ? 1 : 0);
      if (plan.count >= item_limit || (plan.bytes + add > limits.max_bytes && plan.count > 0)) {
        plan.full = true;
        break;
      }
      limit = item_limit;
      plan.bytes += add;
      ++plan.count;
      ++take;
      plan.oldest = std::min(plan.oldest, item.enqueued);
    }
    if (take > 0) {
      plan.takes.emplace_back(pid, take);
    }
  }
}

}  // namespace bridge::platform
