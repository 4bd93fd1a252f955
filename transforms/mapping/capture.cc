#include "transforms/mapping/capture.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "transforms/api/json_check.h"
#include "transforms/api/values.h"

namespace transforms::mapping {
namespace {

namespace od = simdjson::ondemand;
using simdjson::error_code;
using simdjson::SUCCESS;

#define MAPPING_TRY(expr)       \
  do {                          \
    if (auto e_ = (expr); e_) { \
      return e_;                \
    }                           \
  } while (false)

}  // namespace

Capture::Capture(const Plan& plan) : plan_(plan), scopes_(plan.scopes.size()) {
  levels_.resize(plan.max_depth + 2);
  for (auto& level : levels_) {
    level.reserve(plan.trie.size());
  }
}

std::uint32_t Capture::add_element(std::uint32_t scope, std::uint32_t parent, std::uint32_t index) {
  ScopeData& s = scopes_[scope];
  const auto base = static_cast<std::uint32_t>(s.pool.size());
  s.pool.resize(s.pool.size() + plan_.scopes[scope].slot_count);
  s.elements.push_back({parent, base, index});
  return static_cast<std::uint32_t>(s.elements.size() - 1);
}

void Capture::reset() {
  for (ScopeData& s : scopes_) {
    s.elements.clear();
    s.pool.clear();
  }
  add_element(0, 0, 0);
  data_kind_ = JsonKind::absent;
}

error_code Capture::capture(std::string_view data_json) {
  reset();
  const std::size_t needed = data_json.size() + simdjson::SIMDJSON_PADDING;
  if (needed > capacity_) {
    capacity_ = std::max(needed, capacity_ + capacity_ / 2);
    scratch_.reset(new char[capacity_]);
  }
  std::memcpy(scratch_.get(), data_json.data(), data_json.size());
  std::memset(scratch_.get() + data_json.size(), 0, simdjson::SIMDJSON_PADDING);
  od::document doc;
  MAPPING_TRY(parser_.iterate(scratch_.get(), data_json.size(), capacity_).get(doc));
  od::json_type t;
  MAPPING_TRY(doc.type().get(t));
  if (t != od::json_type::object) {
    // On demand hands out no value for a scalar document: only its kind matters (the event is
    // rejected for it), and the reader that cut data_raw validated it.
    data_kind_ = kind_of(t);
    return SUCCESS;
  }
  od::value value;
  MAPPING_TRY(doc.get_value().get(value));
  MAPPING_TRY(capture(value));
  const char* rest = nullptr;
  return doc.current_location().get(rest) ? SUCCESS : simdjson::TRAILING_CONTENT;
}

error_code Capture::capture(od::value data) {
  reset();
  od::json_type t;
  MAPPING_TRY(data.type().get(t));
  data_kind_ = kind_of(t);
  if (data_kind_ != JsonKind::object) {
    return check_value(data);
  }
  od::object object;
  MAPPING_TRY(data.get_object().get(object));
  levels_[0].clear();
  levels_[0].push_back({0, 0});
  return walk_object(object, 0);
}

error_code Capture::walk_value(od::value v, std::size_t depth) {
  od::json_type t;
  MAPPING_TRY(v.type().get(t));
  const JsonKind kind = kind_of(t);
  std::string_view text;
  bool truth = false;
  if (kind == JsonKind::string) {
    MAPPING_TRY(v.get_string().get(text));
  } else if (kind == JsonKind::number) {
    text = values::trim_right(v.raw_json_token());
    MAPPING_TRY(check_number(text));
  } else if (kind == JsonKind::boolean) {
    MAPPING_TRY(v.get_bool().get(truth));
  }
  bool descend = false;
  for (const Cursor& c : levels_[depth]) {
    const TrieNode& n = plan_.trie[c.node];
    if (n.slot >= 0) {
      Value& out = slot(c);
      out.kind = kind;
      out.text = text;
      out.truth = truth;
      out.first = 0;
      out.count = 0;
    }
    descend = descend || !n.children.empty() || n.iteration >= 0;
  }
  if (kind == JsonKind::string || kind == JsonKind::number || kind == JsonKind::boolean) {
    return SUCCESS;  // taken, and checked on the way
  }
  if (descend && kind == JsonKind::object) {
    od::object object;
    MAPPING_TRY(v.get_object().get(object));
    return walk_object(object, depth);
  }
  if (descend && kind == JsonKind::array) {
    od::array array;
    MAPPING_TRY(v.get_array().get(array));
    return walk_array(array, depth);
  }
  return check_value(v);  // null, or a container nothing below is captured from
}

error_code Capture::walk_object(od::object o, std::size_t depth) {
  std::vector<Cursor>& next = levels_[depth + 1];
  for (auto item : o) {
    od::field field;
    std::string_view key;
    MAPPING_TRY(std::move(item).get(field));
    MAPPING_TRY(field.unescaped_key().get(key));
    // Keys are matched after trimming blanks, as the catalogue does (Capillary keys are
    // occasionally padded).
    key = values::trim(key);
    next.clear();
    for (const Cursor& c : levels_[depth]) {
      for (const TrieChild& child : plan_.trie[c.node].children) {
        if (child.key == key) {
          next.push_back({child.node, c.element});
        }
      }
    }
    MAPPING_TRY(next.empty() ? check_value(field.value()) : walk_value(field.value(), depth + 1));
  }
  return SUCCESS;
}

error_code Capture::walk_array(od::array a, std::size_t depth) {
  std::vector<Cursor>& next = levels_[depth + 1];
  for (const Cursor& c : levels_[depth]) {
    const TrieNode& n = plan_.trie[c.node];
    if (n.iteration >= 0 && n.slot >= 0) {
      slot(c).first = static_cast<std::uint32_t>(
          scopes_[static_cast<std::size_t>(n.iteration)].elements.size());
    }
  }
  std::uint32_t index = 0;
  for (auto item : a) {
    od::value element;
    MAPPING_TRY(item.get(element));
    next.clear();
    for (const Cursor& c : levels_[depth]) {
      const TrieNode& n = plan_.trie[c.node];
      if (n.iteration >= 0) {
        const auto scope = static_cast<std::uint32_t>(n.iteration);
        next.push_back({plan_.scopes[scope].root, add_element(scope, c.element, index)});
      }
      for (const TrieChild& child : n.children) {
        if (child.index == static_cast<std::int64_t>(index)) {
          next.push_back({child.node, c.element});
        }
      }
    }
    MAPPING_TRY(next.empty() ? check_value(element) : walk_value(element, depth + 1));
    ++index;
  }
  for (const Cursor& c : levels_[depth]) {
    const TrieNode& n = plan_.trie[c.node];
    if (n.iteration >= 0 && n.slot >= 0) {
      Value& v = slot(c);
      v.count = static_cast<std::uint32_t>(
                    scopes_[static_cast<std::size_t>(n.iteration)].elements.size()) -
                v.first;
    }
  }
  return SUCCESS;
}

#undef MAPPING_TRY

}  // namespace transforms::mapping
