// The webhook receiver's body check (receiver::Inspector::inspect) over arbitrary bytes: what an
// HTTP client anywhere can send once it has the token. Beyond "no crash, no sanitizer report":
// - an error is a reject, `encoding` exactly when the body is not valid UTF-8, else
//   `malformed-json`;
// - an accepted body has at least one event; each event's bytes are a span of the body that
//   starts with '{' and ends with '}', in order and not overlapping; a body that is not an array
//   is one event, the body itself;
// - one inspector is reused across inputs (as a connection thread's is) and the same bytes twice
//   give the same answer.

#include <simdjson.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "bridge/receiver/events.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

bool within(std::string_view outer, std::string_view inner) {
  const std::less_equal<const char*> le;
  return le(outer.data(), inner.data()) &&
         le(inner.data() + inner.size(), outer.data() + outer.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static bridge::receiver::Inspector inspector;
  std::string buffer(reinterpret_cast<const char*>(data), size);
  buffer.append(simdjson::SIMDJSON_PADDING, '\0');  // the receiver's buffers are padded too
  const std::string_view body(buffer.data(), size);
  std::vector<bridge::receiver::Event> events;
  const auto first = inspector.inspect(body, events);
  if (!first) {
    const auto& e = first.error();
    FUZZ_CHECK(e.kind == bridge::core::ErrorKind::reject, "errors are rejects");
    const bool utf8 = simdjson::validate_utf8(body.data(), body.size());
    FUZZ_CHECK(e.code == (utf8 ? "malformed-json" : "encoding"),
               "`encoding` exactly for invalid UTF-8, else `malformed-json`");
    FUZZ_CHECK(events.empty(), "nothing of a refused body is kept");
    std::vector<bridge::receiver::Event> again;
    const auto second = inspector.inspect(body, again);
    FUZZ_CHECK(!second && second.error().code == e.code, "the same bytes give the same reject");
    return 0;
  }
  FUZZ_CHECK(!events.empty(), "an accepted body has an event");
  const std::size_t start = body.find_first_not_of(" \t\r\n");
  const bool batch = start != std::string_view::npos && body[start] == '[';
  if (!batch) {
    FUZZ_CHECK(events.size() == 1 && events.front().raw.data() == body.data() &&
                   events.front().raw.size() == body.size(),
               "a single event is the body itself");
  }
  const char* end_of_previous = body.data();
  for (const auto& e : events) {
    FUZZ_CHECK(within(body, e.raw), "an event's bytes are a span of the body");
    FUZZ_CHECK(std::less_equal<const char*>()(end_of_previous, e.raw.data()),
               "events are in order and do not overlap");
    end_of_previous = e.raw.data() + e.raw.size();
    if (batch) {
      FUZZ_CHECK(e.raw.size() >= 2 && e.raw.front() == '{' && e.raw.back() == '}',
                 "a batch element is an object's exact bytes");
    }
  }
  std::vector<bridge::receiver::Event> again;
  FUZZ_CHECK(inspector.inspect(body, again) && again.size() == events.size(),
             "the same bytes give the same events");
  for (std::size_t i = 0; i < again.size(); ++i) {
    FUZZ_CHECK(again[i].raw == events[i].raw && again[i].event_id == events[i].event_id &&
                   again[i].customer_id == events[i].customer_id &&
                   again[i].org_id == events[i].org_id,
               "the same bytes give the same fields");
  }
  return 0;
}
