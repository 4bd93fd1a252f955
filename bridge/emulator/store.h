#pragma once
// What the emulator remembers about accepted messages: their bytes in arrival order and the set
// of distinct xdmEntity._id values. Both live in large chunks, so a warmed-up emulator stores a
// message without a heap allocation per message, and a long benchmark does not fragment the heap.
// Not thread-safe: the server guards both with its state mutex.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

namespace bridge::emulator {

// Append-only byte storage; views stay valid until clear().
class Arena {
 public:
  struct Ref {
    std::uint32_t chunk = 0;
    std::uint32_t offset = 0;
  };
  Ref append(std::string_view bytes);
  [[nodiscard]] std::string_view view(Ref ref, std::size_t length) const;
  void clear();

 private:
  struct Chunk {
    std::unique_ptr<char[]> bytes;
    std::size_t capacity = 0;
    std::size_t used = 0;
  };
  std::vector<Chunk> chunks_;
};

class MessageLog {
 public:
  void append(std::string_view message);
  [[nodiscard]] std::size_t size() const { return entries_.size(); }
  [[nodiscard]] std::string_view at(std::size_t index) const;
  void clear();

 private:
  struct Entry {
    Arena::Ref ref;
    std::uint64_t length = 0;
  };
  Arena arena_;
  std::vector<Entry> entries_;
};

// Exact set of strings (open addressing, linear probing); the strings themselves sit in an arena.
class IdSet {
 public:
  // True when `id` was not in the set before.
  bool insert(std::string_view id);
  [[nodiscard]] std::size_t size() const { return size_; }
  void clear();

 private:
  struct Slot {
    std::uint64_t hash = 0;
    Arena::Ref ref;
    std::uint32_t length = 0;
    bool used = false;
  };
  void grow();
  Arena arena_;
  std::vector<Slot> slots_;
  std::size_t size_ = 0;
};

}  // namespace bridge::emulator
