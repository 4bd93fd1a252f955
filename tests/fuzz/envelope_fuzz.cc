// EnvelopeReader::read over arbitrary bytes. Beyond "no crash, no sanitizer report":
// - an error is a reject with one of the three documented codes, and `encoding` exactly when the
//   payload is not valid UTF-8;
// - an envelope has a trimmed, non-empty event name, and event_raw/data_raw view the payload;
// - one reader is reused across inputs (as a worker's is) and reading the same bytes twice gives
//   the same answer.

#include <simdjson.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "tests/fuzz/fuzz_check.h"
#include "transforms/api/envelope.h"
#include "transforms/api/values.h"

namespace {

bool within(std::string_view outer, std::string_view inner) {
  const std::less_equal<const char*> le;
  return le(outer.data(), inner.data()) &&
         le(inner.data() + inner.size(), outer.data() + outer.size());
}

bool trimmed(std::string_view s) {
  return transforms::values::trim(s).size() == s.size();
}

}  // namespace

// Check::defer_data then check_data() (the stage's parse once) gives the verdict of a full read,
// and the same envelope.
void check_deferred(std::string_view payload,
                    const transforms::Result<transforms::Envelope>& full) {
  static transforms::EnvelopeReader deferring;
  auto got = deferring.read(payload, transforms::EnvelopeReader::Check::defer_data);
  if (got) {
    if (auto checked = deferring.check_data(); !checked) {
      got = tl::unexpected(checked.error());
    }
  }
  FUZZ_CHECK(got.has_value() == full.has_value(), "deferring data gives the same verdict");
  if (!got) {
    FUZZ_CHECK(got.error().code == full.error().code, "deferring data gives the same reason");
    return;
  }
  FUZZ_CHECK(got->variant == full->variant && got->event_name == full->event_name &&
                 got->event_id == full->event_id && got->org_id == full->org_id &&
                 got->data_raw.data() == full->data_raw.data() &&
                 got->data_raw.size() == full->data_raw.size(),
             "deferring data gives the same envelope");
  simdjson::ondemand::value value;
  const auto e = deferring.data().get(value);
  FUZZ_CHECK((e == simdjson::SUCCESS) == !full->data_raw.empty(), "data() exactly when data_raw");
  if (e == simdjson::SUCCESS) {
    FUZZ_CHECK(value.raw_json_token().substr(0, 1) == full->data_raw.substr(0, 1),
               "data() is the value data_raw spans");
  }
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static transforms::EnvelopeReader reader;
  const std::string_view payload(reinterpret_cast<const char*>(data), size);
  const auto first = reader.read(payload);
  check_deferred(payload, first);
  if (!first) {
    const auto& e = first.error();
    FUZZ_CHECK(e.kind == bridge::core::ErrorKind::reject, "errors are rejects");
    FUZZ_CHECK(e.code == "encoding" || e.code == "malformed-json" || e.code == "envelope",
               "a documented reject code");
    const bool utf8 = simdjson::validate_utf8(payload.data(), payload.size());
    FUZZ_CHECK((e.code == "encoding") == !utf8, "`encoding` exactly for invalid UTF-8");
    const auto again = reader.read(payload);
    FUZZ_CHECK(!again && again.error().code == e.code, "the same bytes give the same reject");
    return 0;
  }
  const transforms::Envelope& env = *first;
  FUZZ_CHECK(!env.event_name.empty() && trimmed(env.event_name), "a trimmed event name");
  FUZZ_CHECK(trimmed(env.event_id), "a trimmed event id");
  FUZZ_CHECK(!env.event_raw.empty() && within(payload, env.event_raw), "event_raw in payload");
  FUZZ_CHECK(env.event_raw.front() == '{' && env.event_raw.back() == '}', "event_raw is object");
  FUZZ_CHECK(env.data_raw.empty() || within(payload, env.data_raw), "data_raw in payload");
  FUZZ_CHECK(simdjson::validate_utf8(payload.data(), payload.size()), "accepted only UTF-8");
  // event_name and event_id may view the reader's own buffers: keep copies across the re-read.
  const transforms::Envelope copy = env;
  const std::string name(copy.event_name);
  const std::string id(copy.event_id);
  const auto again = reader.read(payload);
  FUZZ_CHECK(again.has_value(), "the same bytes are accepted again");
  FUZZ_CHECK(again->event_name == name && again->variant == copy.variant && again->event_id == id &&
                 again->org_id == copy.org_id && again->has_org_id == copy.has_org_id &&
                 again->created_at_ms == copy.created_at_ms &&
                 again->has_created_at == copy.has_created_at &&
                 again->data_raw.data() == copy.data_raw.data() &&
                 again->data_raw.size() == copy.data_raw.size(),
             "the same bytes give the same envelope");
  return 0;
}
