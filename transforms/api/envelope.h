#pragma once
// Detects which documented Capillary envelope a payload uses (reference/capillary-events.md
// section 3: E1 flat, E2 wrapped, E3 `body`, E4 API response, E5 internal event log) and
// unwraps it into a transforms::Envelope.
//
// Threads and lifetimes: one reader per worker, used from that worker's thread only. It owns a
// simdjson on-demand parser and a padded scratch buffer that are reused for every read(), so a
// warmed-up reader does not allocate. The views in a returned Envelope point into the payload
// passed to read() (or, for the rare string written with JSON escapes, into the reader's own
// buffers); they stay valid while that payload lives and until the next read() on this reader.
//
// The whole payload is validated (UTF-8 first, then every JSON value), because `passthrough`
// forwards the payload byte for byte and must never forward broken JSON. With
// Check::defer_data the contents of `data` are left for whoever walks them next (parse once):
// a transform that walks `data` in the reader's document through data() and checks every value
// there (Transform::checks_data), or check_data(). The verdict on a payload is the same either
// way; only the work moves.

#include <simdjson.h>

#include <cstdint>
#include <memory>
#include <string_view>

#include "transforms/api/json_check.h"
#include "transforms/api/transform.h"

namespace transforms {

class EnvelopeReader {
 public:
  EnvelopeReader();
  ~EnvelopeReader();
  EnvelopeReader(EnvelopeReader&&) noexcept;
  EnvelopeReader& operator=(EnvelopeReader&&) noexcept;
  EnvelopeReader(const EnvelopeReader&) = delete;
  EnvelopeReader& operator=(const EnvelopeReader&) = delete;

  // Never throws. Errors are rejects with one of these codes:
  //   `encoding`        the payload is not valid UTF-8
  //   `malformed-json`  not JSON, truncated, trailing bytes, or not a JSON object
  //   `envelope`        a JSON object in which no documented envelope (no event name) was found
  // Messages name the problem, never field values (no personal data).
  //
  // Field rules (reference sections 3, 8.1 and 10.3-10.4):
  // - event_name is trimmed; in E2 it is attributes.eventName, else eventType, with a leading
  //   `<digits>_` (the orgId prefix) removed.
  // - org_id accepts a number (`50001`, `50001.0`) or a numeric string (`"50001"`); in E2 it is
  //   attributes.orgId, else the top-level orgId, else the eventType prefix.
  // - created_at_ms accepts epoch milliseconds, epoch seconds (magnitude below 1e11), numbers in
  //   scientific notation, numeric strings and ISO-8601 date-times with `Z` or an offset
  //   (`+05:30`, `+0530`, `+05`). A date-time without offset is ambiguous (server vs org time
  //   zone) and leaves has_created_at false, as does any value that does not parse. In E2 it is
  //   attributes.createdAt, else timeStamp.
  // - E5 is told apart from E1 by carrying both eventLogId and traceAttributes at the top level.
  // - Keys are compared after trimming spaces (documented samples contain "orgId " and the like).
  //
  // Check::defer_data: the contents of the object that becomes `data` are not validated yet
  // (UTF-8 is, and so is everything else); call check_data() or walk data() validating. Any
  // reject read() returns is still `malformed-json` when the JSON is broken anywhere.
  enum class Check : std::uint8_t { all, defer_data };
  [[nodiscard]] Result<Envelope> read(std::string_view payload, Check check = Check::all);

  // Validates `data` when the last read() deferred it, else does nothing: a `malformed-json`
  // reject like read()'s. data() afterwards starts again from the beginning.
  [[nodiscard]] Result<void> check_data();
  // Whether nothing of the last read() is left unchecked.
  [[nodiscard]] bool data_checked() const;

  // The last successful read()'s `data` as a value in the reader's parsed document, so that a
  // transform walks it without parsing again. Each call walks the document to it afresh (values
  // and unescaped strings from an earlier call become invalid). NO_SUCH_FIELD when the event has
  // no `data` (or it is null). Valid until the next read().
  [[nodiscard]] simdjson::simdjson_result<simdjson::ondemand::value> data();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// For a transform that walks `data` itself (Transform::checks_data): hands `data` to `capture`, an
// overload set taking a simdjson::ondemand::value (the input's reader's parsed document, no
// second parse) and a std::string_view (Envelope::data_raw, when there is no reader). Broken
// JSON is a `malformed-json` reject; without `data` nothing is called.
template <typename Capture>
[[nodiscard]] Result<void> capture_data(const Input& input, Capture&& capture) {
  if (input.envelope.data_raw.empty()) {
    return {};
  }
  simdjson::error_code e = simdjson::SUCCESS;
  if (input.reader != nullptr) {
    simdjson::ondemand::value data;
    e = input.reader->data().get(data);
    if (!e) {
      e = capture(data);
    }
  } else {
    e = capture(input.envelope.data_raw);
  }
  if (e) {
    return malformed_json(e);
  }
  return {};
}

}  // namespace transforms
