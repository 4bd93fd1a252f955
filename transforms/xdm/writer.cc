#include "transforms/xdm/writer.h"

// SSE2 is part of x86-64: RapidJSON then skips runs of characters that need no escape 16 bytes
// at a time.
#if defined(__SSE2__) && !defined(RAPIDJSON_SSE2)
#define RAPIDJSON_SSE2
#endif
#include <rapidjson/internal/dtoa.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "transforms/api/values.h"

namespace transforms::xdm {
namespace {

bool blank(std::string_view s) {
  return values::trim(s).empty();
}

// Whether JSON requires an escape anywhere in `s` (RFC 8259 section 7).
bool needs_escape(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) {
    return c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20;
  });
}

}  // namespace

// A growable byte buffer whose appends inline to a bounds check and a copy (std::string's
// push_back does not inline at -O2 and showed in profiles).
class Buffer {
 public:
  Buffer() { grow(4096); }
  ~Buffer() { std::free(data_); }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  void clear() { size_ = 0; }
  void put(char c) {
    if (size_ == capacity_) {
      grow(1);
    }
    data_[size_++] = c;
  }
  void put(std::string_view s) {
    if (capacity_ - size_ < s.size()) {
      grow(s.size());
    }
    std::memcpy(data_ + size_, s.data(), s.size());
    size_ += s.size();
  }
  void put(const char* p, std::size_t n) { put(std::string_view(p, n)); }
  [[nodiscard]] std::string_view view() const { return {data_, size_}; }

 private:
  void grow(std::size_t at_least) {
    const std::size_t wanted = std::max(capacity_ * 2, size_ + at_least);
    auto* p = static_cast<char*>(std::realloc(data_, wanted));
    if (p == nullptr) {
      throw std::bad_alloc();
    }
    data_ = p;
    capacity_ = wanted;
  }

  char* data_ = nullptr;
  std::size_t size_ = 0;
  std::size_t capacity_ = 0;
};

// Structure (braces, commas, keys) is written directly into `out`; string escaping is
// RapidJSON's Writer (over `escape_buffer`), used only for values that need it.
struct Writer::State {
  struct Frame {
    std::string_view key;
    bool has_key = false;
    bool array = false;
    bool open = false;  // written to the output
    bool first = true;  // no member written yet
  };

  Buffer out;
  std::vector<Frame> frames;
  std::size_t unopened = 0;  // index of the first frame not yet written
  bool ok = true;
  bool root_written = false;
  rapidjson::StringBuffer escape_buffer;
  rapidjson::Writer<rapidjson::StringBuffer> escaper{escape_buffer};

  void reset() {
    out.clear();
    frames.clear();
    unopened = 0;
    ok = true;
    root_written = false;
  }

  // Separator before a new member of the innermost open container.
  void separate() {
    if (frames.empty()) {
      ok = ok && !root_written;
      root_written = true;
      return;
    }
    Frame& f = frames.back();
    if (!f.first) {
      out.put(',');
    }
    f.first = false;
  }

  void put_key(std::string_view k) {
    out.put('"');
    out.put(k);
    out.put("\":", 2);
  }

  // Writes every pending container down to the innermost one.
  void materialize() {
    for (; unopened < frames.size(); ++unopened) {
      // The separator belongs to the parent frame (or the root).
      if (unopened == 0) {
        ok = ok && !root_written;
        root_written = true;
      } else {
        Frame& parent = frames[unopened - 1];
        if (!parent.first) {
          out.put(',');
        }
        parent.first = false;
      }
      Frame& f = frames[unopened];
      if (f.has_key) {
        put_key(f.key);
      }
      out.put(f.array ? '[' : '{');
      f.open = true;
    }
  }

  // Starts a member: pending containers, separator, key (when given).
  void member(std::string_view k, bool has_key) {
    if (unopened < frames.size()) {
      materialize();
    }
    separate();
    if (has_key) {
      put_key(k);
    }
  }

  void put_string(std::string_view v) {
    if (!needs_escape(v)) {
      out.put('"');
      out.put(v);
      out.put('"');
      return;
    }
    escape_buffer.Clear();
    escaper.Reset(escape_buffer);
    ok = escaper.String(v.data(), static_cast<rapidjson::SizeType>(v.size())) && ok;
    out.put(escape_buffer.GetString(), escape_buffer.GetSize());
  }

  void put_integer(std::int64_t v) {
    char buf[24];
    const auto r = std::to_chars(buf, buf + sizeof(buf), v);
    out.put(buf, static_cast<std::size_t>(r.ptr - buf));
  }

  void put_double(double v) {
    char buf[32];
    const char* end = rapidjson::internal::dtoa(v, buf);
    out.put(buf, static_cast<std::size_t>(end - buf));
  }

  void push(std::string_view k, bool has_key, bool array) {
    frames.push_back({k, has_key, array, false, true});
  }

  void pop(bool array) {
    if (frames.empty() || frames.back().array != array) {
      ok = false;
      return;
    }
    const bool was_open = frames.back().open;
    frames.pop_back();
    if (was_open) {
      out.put(array ? ']' : '}');
    }
    unopened = std::min(unopened, frames.size());
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
  state_->member(key, true);
  state_->put_string(value);
}

void Writer::string(std::string_view value) {
  if (blank(value)) {
    return;
  }
  state_->member({}, false);
  state_->put_string(value);
}

void Writer::string_token(std::string_view key, std::string_view token, std::string_view text) {
  if (blank(text)) {
    return;
  }
  state_->member(key, true);
  state_->out.put(token);
}

void Writer::string_token(std::string_view token, std::string_view text) {
  if (blank(text)) {
    return;
  }
  state_->member({}, false);
  state_->out.put(token);
}

void Writer::integer(std::string_view key, std::int64_t value) {
  state_->member(key, true);
  state_->put_integer(value);
}

void Writer::integer(std::int64_t value) {
  state_->member({}, false);
  state_->put_integer(value);
}

void Writer::number(std::string_view key, double value) {
  if (!std::isfinite(value)) {
    return;
  }
  state_->member(key, true);
  state_->put_double(value);
}

void Writer::boolean(std::string_view key, bool value) {
  state_->member(key, true);
  state_->out.put(value ? "true" : "false");
}

void Writer::number_text(std::string_view key, std::string_view json_number) {
  if (json_number.empty()) {
    return;
  }
  state_->member(key, true);
  state_->out.put(json_number);
}

void Writer::number_text(std::string_view json_number) {
  if (json_number.empty()) {
    return;
  }
  state_->member({}, false);
  state_->out.put(json_number);
}

void Writer::raw(std::string_view key, std::string_view json) {
  if (json.empty()) {
    return;
  }
  state_->member(key, true);
  state_->out.put(json);
}

bool Writer::ok() const {
  return state_->ok && state_->frames.empty();
}

std::string_view Writer::view() const {
  return state_->out.view();
}

}  // namespace transforms::xdm
