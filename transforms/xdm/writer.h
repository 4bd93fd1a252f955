#pragma once
// A streaming JSON writer for XDM bodies, on top of RapidJSON's Writer (escaping is RapidJSON's,
// not ours; strings must be valid UTF-8, which holds for anything taken from a payload the
// envelope reader accepted), with the one rule Platform adds: no null and no empty
// values. Objects and arrays open lazily — nothing is written until their first member — so a
// container that ends up empty vanishes, and string setters skip empty or blank text.
//
// One writer per worker, reused: reset() keeps the buffer's capacity, so a warmed-up writer does
// not allocate. Keys must stay alive until the enclosing container has been written (string
// literals and configuration strings do), and must not need escaping (they are literals, or
// configuration values checked at startup). String values are escaped by RapidJSON; a value
// without a character JSON requires escaped (`"`, `\`, below U+0020) is copied as is.

#include <cstdint>
#include <memory>
#include <string_view>

namespace transforms::xdm {

class Writer {
 public:
  Writer();
  ~Writer();
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  void reset();

  // Containers. The keyless forms are for the root and for array elements.
  void begin_object(std::string_view key);
  void begin_object();
  void end_object();
  void begin_array(std::string_view key);
  void begin_array();
  void end_array();

  // Scalars. Strings that are empty or only blanks are skipped; `value` is written as given
  // (callers trim identity values and codes, and keep display text as is).
  void string(std::string_view key, std::string_view value);
  void string(std::string_view value);
  void integer(std::string_view key, std::int64_t value);
  void integer(std::int64_t value);
  void number(std::string_view key, double value);
  void boolean(std::string_view key, bool value);
  // `json_number` must already be a valid JSON number (values::is_json_number); spliced as is,
  // so `89000.0` and `1.7193E12` keep their exact text.
  void number_text(std::string_view key, std::string_view json_number);
  void number_text(std::string_view json_number);
  // A complete, valid JSON value spliced as is (an untouched subtree of the input).
  void raw(std::string_view key, std::string_view json);
  // A JSON string token exactly as it appears in a validated input (quotes and escapes
  // included), spliced without unescaping and re-escaping. Skipped when `text` — the token's
  // unescaped content — is blank.
  void string_token(std::string_view key, std::string_view token, std::string_view text);
  void string_token(std::string_view token, std::string_view text);

  // True while every value was accepted and the nesting is balanced.
  [[nodiscard]] bool ok() const;
  // The document written so far (complete once every container is closed).
  [[nodiscard]] std::string_view view() const;
  [[nodiscard]] std::size_t size() const { return view().size(); }

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace transforms::xdm
