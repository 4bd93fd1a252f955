#pragma once
// One on-demand pass over an event's `data` that fills every slot of a Plan's capture trie.
// Each trie node a JSON value reaches records the value's kind and text in its slot; arrays at
// iteration nodes append one element per array element to the node's scope. Several trie
// nodes can walk one JSON value at once (say `/streakData/0/x` and a split on `/streakData`),
// so the walk keeps a list of cursors per depth instead of a single node.
//
// One Capture per worker, reused: buffers keep their capacity, so a warmed-up capture does not
// allocate. Values are views into the parser's buffers, valid until the next capture().

#include <simdjson.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "transforms/mapping/plan.h"

namespace transforms::mapping {

class Capture {
 public:
  explicit Capture(const Plan& plan);

  // Walks `data` (a value in a document parsed already: EnvelopeReader::data()) and captures
  // every planned value, validating every value, taken or not (transforms::check_value): a
  // simdjson error for anything that is not valid JSON. data_kind() tells what `data` was.
  simdjson::error_code capture(simdjson::ondemand::value data);
  // The same over `data_json` (Envelope::data_raw), parsed with this Capture's own parser.
  simdjson::error_code capture(std::string_view data_json);

  [[nodiscard]] JsonKind data_kind() const { return data_kind_; }

  // Element `element` of `scope` (scope 0 has the one element 0).
  [[nodiscard]] const Value& get(std::uint32_t scope, std::uint32_t element,
                                 std::uint32_t slot) const {
    const ScopeData& s = scopes_[scope];
    return s.pool[s.elements[element].base + slot];
  }
  // Position of an element in its array, and the element of the parent scope it belongs to.
  [[nodiscard]] std::uint32_t index_of(std::uint32_t scope, std::uint32_t element) const {
    return scopes_[scope].elements[element].index;
  }
  [[nodiscard]] std::uint32_t parent_of(std::uint32_t scope, std::uint32_t element) const {
    return scopes_[scope].elements[element].parent;
  }

 private:
  struct Element {
    std::uint32_t parent = 0;  // element of the parent scope
    std::uint32_t base = 0;    // first slot in `pool`
    std::uint32_t index = 0;   // position in the JSON array
  };
  struct ScopeData {
    std::vector<Element> elements;
    std::vector<Value> pool;
  };
  struct Cursor {
    std::uint32_t node = 0;
    std::uint32_t element = 0;  // of the node's scope
  };

  void reset();
  simdjson::error_code walk_value(simdjson::ondemand::value v, std::size_t depth);
  simdjson::error_code walk_object(simdjson::ondemand::object o, std::size_t depth);
  simdjson::error_code walk_array(simdjson::ondemand::array a, std::size_t depth);
  std::uint32_t add_element(std::uint32_t scope, std::uint32_t parent, std::uint32_t index);
  Value& slot(const Cursor& c) {
    const TrieNode& n = plan_.trie[c.node];
    ScopeData& s = scopes_[n.scope];
    return s.pool[s.elements[c.element].base + static_cast<std::uint32_t>(n.slot)];
  }

  const Plan& plan_;
  simdjson::ondemand::parser parser_;
  std::unique_ptr<char[]> scratch_;
  std::size_t capacity_ = 0;
  JsonKind data_kind_ = JsonKind::absent;
  std::vector<ScopeData> scopes_;
  std::vector<std::vector<Cursor>> levels_;  // cursors per depth
};

}  // namespace transforms::mapping
