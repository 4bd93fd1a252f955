#include "bridge/platform/queues.h"

#include <algorithm>

namespace bridge::platform {

PartitionQueue& Queues::at(std::uint32_t pid) {
  if (pid >= parts_.size()) {
    parts_.resize(pid + 1);
  }
  return parts_[pid];
}

bool Queues::admit(Item& item) {
  PartitionQueue& part = at(item.partition);
  if (part.barrier) {
    if (item.epoch <= *part.barrier) {
      return false;
    }
    part.barrier.reset();  // the re-send has begun
  }
  part.queue.push_back(std::move(item));
  return true;
}

void Queues::take(std::uint32_t pid, std::size_t n, std::vector<Item>& out) {
  PartitionQueue& part = at(pid);
  part.busy = true;
  for (std::size_t t = 0; t < n && !part.queue.empty(); ++t) {
    out.push_back(std::move(part.queue.front()));
    part.queue.pop_front();
  }
}

void Queues::idle(std::uint32_t pid) {
  at(pid).busy = false;
}

Item* Queues::waiting(std::uint32_t pid, std::uint32_t inlet) {
  if (pid >= parts_.size()) {
    return nullptr;
  }
  PartitionQueue& part = parts_[pid];
  if (part.busy || part.queue.empty() || part.queue.front().inlet != inlet) {
    return nullptr;
  }
  return &part.queue.front();
}

Item Queues::pop(std::uint32_t pid) {
  PartitionQueue& part = at(pid);
  Item item = std::move(part.queue.front());
  part.queue.pop_front();
  return item;
}

void Queues::put_back(std::vector<Item>& items, std::vector<Item>& dropped) {
  for (auto it = items.rbegin(); it != items.rend(); ++it) {
    PartitionQueue& part = at(it->partition);
    part.busy = false;
    if (it->released) {
      dropped.push_back(std::move(*it));
    } else {
      part.queue.push_front(std::move(*it));
    }
  }
  items.clear();
}

void Queues::bar(std::uint32_t pid, std::uint64_t epoch, std::vector<Item>& later) {
  PartitionQueue& part = at(pid);
  part.barrier = part.barrier ? std::max(*part.barrier, epoch) : epoch;
  for (Item& item : part.queue) {
    later.push_back(std::move(item));
  }
  part.queue.clear();
}

void Queues::release(std::uint32_t pid, std::vector<Item>& dropped) {
  if (pid >= parts_.size()) {
    return;
  }
  PartitionQueue& part = parts_[pid];
  for (Item& item : part.queue) {
    dropped.push_back(std::move(item));
  }
  part.queue.clear();
  part.barrier.reset();
  part.take_limit = 0;
}

void Queues::limit(std::uint32_t pid, bool failed, std::size_t taken, std::size_t max_messages) {
  PartitionQueue& part = at(pid);
  if (failed) {
    part.take_limit = std::max<std::size_t>(1, taken / 2);
  } else if (part.take_limit > 0) {
    part.take_limit *= 2;
    if (part.take_limit >= max_messages) {
      part.take_limit = 0;
    }
  }
}

}  // namespace bridge::platform
