#include "transforms/xdm/writer.h"

// SSE2 is part of x86-64: RapidJSON then skips runs of characters that need no escape 16 bytes
// at a time.
#if defined(__SSE2__) && !defined(RAPIDJSON_SSE2)
#define RAPIDJSON_SSE2
#endif
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cmath>
#include <vector>

#include "transforms/api/values.h"

namespace transforms::xdm {
namespace {

// No kWriteValidateEncodingFlag: every string written comes from a payload the envelope reader
// has already validated as UTF-8 (or from configuration), and validation would also turn off
// RapidJSON's SIMD scan. Escaping (quotes, backslashes, control characters) is RapidJSON's.
using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

rapidjson::SizeType size_of(std::string_view s) {
  return static_cast<rapidjson::SizeType>(s.size());
}

bool blank(std::string_view s) {
  return values::trim(s).empty();
}

}  // namespace

struct Writer::State {
  struct Frame {
    std::string_view key;
    bool has_key = false;
    bool array = false;
    bool open = false;  // written to the output (it has, or is getting, a member)
  };

  rapidjson::StringBuffer buffer;
  JsonWriter writer{buffer};
  std::vector<Frame> frames;
  std::size_t unopened = 0;  // index of the first frame not yet written
  bool ok = true;

  void reset() {
    buffer.Clear();
    writer.Reset(buffer);
    frames.clear();
    unopened = 0;
    ok = true;
  }

  // Writes every pending container down to the innermost one.
  void materialize() {
    for (; unopened < frames.size(); ++unopened) {
      Frame& f = frames[unopened];
      if (f.has_key) {
        ok = writer.Key(f.key.data(), size_of(f.key)) && ok;
      }
      ok = (f.array ? writer.StartArray() : writer.StartObject()) && ok;
      f.open = true;
    }
  }

  // A member key inside an object.
  void key(std::string_view k) {
    materialize();
    ok = writer.Key(k.data(), size_of(k)) && ok;
  }

  void push(std::string_view k, bool has_key, bool array) {
    frames.push_back({k, has_key, array, false});
  }

  void pop(bool array) {
    if (frames.empty() || frames.back().array != array) {
      ok = false;
      return;
    }
    const bool was_open = frames.back().open;
    frames.pop_back();
    if (was_open) {
      ok = (array ? writer.EndArray() : writer.EndObject()) && ok;
    }
    if (unopened > frames.size()) {
      unopened = frames.size();
    }
  }
};

Writer::Writer() : state_(std::make_unique<State>()) {}
Writer::~Writer() = default;

void Writer::reset() {
  state_->reset();
}

void Writer::begin_object(std::string_view key) {
  state_->push(key, true, false);
}
void Writer::begin_object() {
  state_->push({}, false, false);
}
void Writer::end_object() {
  state_->pop(false);
}
void Writer::begin_array(std::string_view key) {
  state_->push(key, true, true);
}
void Writer::begin_array() {
  state_->push({}, false, true);
}
void Writer::end_array() {
  state_->pop(true);
}

void Writer::string(std::string_view key, std::string_view value) {
  if (blank(value)) {
    return;
  }
  state_->key(key);
  state_->ok = state_->writer.String(value.data(), size_of(value)) && state_->ok;
}

void Writer::string(std::string_view value) {
  if (blank(value)) {
    return;
  }
  state_->materialize();
  state_->ok = state_->writer.String(value.data(), size_of(value)) && state_->ok;
}

void Writer::integer(std::string_view key, std::int64_t value) {
  state_->key(key);
  state_->ok = state_->writer.Int64(value) && state_->ok;
}

void Writer::integer(std::int64_t value) {
  state_->materialize();
  state_->ok = state_->writer.Int64(value) && state_->ok;
}

void Writer::number(std::string_view key, double value) {
  if (!std::isfinite(value)) {
    return;
  }
  state_->key(key);
  state_->ok = state_->writer.Double(value) && state_->ok;
}

void Writer::boolean(std::string_view key, bool value) {
  state_->key(key);
  state_->ok = state_->writer.Bool(value) && state_->ok;
}

void Writer::number_text(std::string_view key, std::string_view json_number) {
  if (json_number.empty()) {
    return;
  }
  state_->key(key);
  state_->ok =
      state_->writer.RawValue(json_number.data(), json_number.size(), rapidjson::kNumberType) &&
      state_->ok;
}

void Writer::number_text(std::string_view json_number) {
  if (json_number.empty()) {
    return;
  }
  state_->materialize();
  state_->ok =
      state_->writer.RawValue(json_number.data(), json_number.size(), rapidjson::kNumberType) &&
      state_->ok;
}

void Writer::raw(std::string_view key, std::string_view json) {
  if (json.empty()) {
    return;
  }
  state_->key(key);
  state_->ok =
      state_->writer.RawValue(json.data(), json.size(), rapidjson::kObjectType) && state_->ok;
}

bool Writer::ok() const {
  return state_->ok && state_->frames.empty();
}

std::string_view Writer::view() const {
  return {state_->buffer.GetString(), state_->buffer.GetSize()};
}

}  // namespace transforms::xdm
