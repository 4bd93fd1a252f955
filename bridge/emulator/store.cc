#include "bridge/emulator/store.h"

#include <algorithm>
#include <cstring>
#include <functional>

namespace bridge::emulator {
namespace {

// Large enough that a 1 MB request's messages rarely straddle a chunk boundary, small enough that
// an idle emulator costs little.
constexpr std::size_t kChunkBytes = std::size_t{8} << 20;
constexpr std::size_t kInitialSlots = 1024;

}  // namespace

Arena::Ref Arena::append(std::string_view bytes) {
  if (chunks_.empty() || chunks_.back().capacity - chunks_.back().used < bytes.size()) {
    Chunk chunk;
    chunk.capacity = std::max(kChunkBytes, bytes.size());
    chunk.bytes = std::make_unique_for_overwrite<char[]>(chunk.capacity);
    chunks_.push_back(std::move(chunk));
  }
  Chunk& chunk = chunks_.back();
  // A chunk holds at most max(kChunkBytes, one message) bytes, and the server caps requests at
  // 1 GiB, so both fit 32 bits.
  const Ref ref{static_cast<std::uint32_t>(chunks_.size() - 1),
                static_cast<std::uint32_t>(chunk.used)};
  if (!bytes.empty()) {
    std::memcpy(chunk.bytes.get() + chunk.used, bytes.data(), bytes.size());
  }
  chunk.used += bytes.size();
  return ref;
}

std::string_view Arena::view(Ref ref, std::size_t length) const {
  return {chunks_[ref.chunk].bytes.get() + ref.offset, length};
}

void Arena::clear() {
  chunks_.clear();
}

void MessageLog::append(std::string_view message) {
  entries_.push_back({arena_.append(message), message.size()});
}

std::string_view MessageLog::at(std::size_t index) const {
  const Entry& e = entries_[index];
  return arena_.view(e.ref, static_cast<std::size_t>(e.length));
}

void MessageLog::clear() {
  arena_.clear();
  entries_.clear();
  entries_.shrink_to_fit();
}

bool IdSet::insert(std::string_view id) {
  if ((size_ + 1) * 2 > slots_.size()) {
    grow();
  }
  const std::uint64_t hash = std::hash<std::string_view>{}(id);
  const std::size_t mask = slots_.size() - 1;
  for (std::size_t i = hash & mask;; i = (i + 1) & mask) {
    Slot& slot = slots_[i];
    if (!slot.used) {
      slot = {hash, arena_.append(id), static_cast<std::uint32_t>(id.size()), true};
      ++size_;
      return true;
    }
    if (slot.hash == hash && slot.length == id.size() && arena_.view(slot.ref, slot.length) == id) {
      return false;
    }
  }
}

void IdSet::grow() {
  std::vector<Slot> old = std::move(slots_);
  slots_.assign(std::max(kInitialSlots, old.size() * 2), Slot{});
  const std::size_t mask = slots_.size() - 1;
  for (const Slot& slot : old) {
    if (!slot.used) {
      continue;
    }
    std::size_t i = slot.hash & mask;
    while (slots_[i].used) {
      i = (i + 1) & mask;
    }
    slots_[i] = slot;
  }
}

void IdSet::clear() {
  arena_.clear();
  slots_.clear();
  slots_.shrink_to_fit();
  size_ = 0;
}

}  // namespace bridge::emulator
