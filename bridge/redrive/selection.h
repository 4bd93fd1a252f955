#pragma once
// Which dead letters a redrive takes: by reason and by the time they were written, and how a
// letter's capillary-bridge.* headers (bridge/deadletter/writer.h) read back.

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "bridge/core/record.h"
#include "bridge/core/result.h"

namespace bridge::redrive {

struct Selection {
  std::vector<std::string> reasons;      // empty: every reason
  std::optional<std::int64_t> since_ms;  // letters written at or after (unix ms)
  std::optional<std::int64_t> until_ms;  // letters written at or before (unix ms)
  std::optional<std::uint64_t> limit;    // at most this many letters redriven
};

// A time for --since/--until: RFC 3339 ("2026-12-04T10:00:00Z", "2026-12-04T15:30:00+05:30",
// fractional seconds allowed), a date ("2026-12-04", midnight UTC), or an age ("90s", "30m",
// "2h", "7d": that long before `now`). Unix milliseconds.
[[nodiscard]] core::Result<std::int64_t> parse_time(std::string_view text,
                                                    std::chrono::system_clock::time_point now);

// What the dead-letter headers say about a letter.
struct LetterHeaders {
  std::string_view reason;  // empty: not a letter the bridge wrote
  std::string_view source;  // "topic/partition/offset"
  std::string_view topic;   // the topic part of `source`
  std::uint32_t attempts = 1;
  bool truncated = false;  // a reduced letter: the payload is cut, it cannot be redriven
};
[[nodiscard]] LetterHeaders read_headers(std::span<const core::Header> headers);

// The headers a letter carried from its source record: all but capillary-bridge.*.
[[nodiscard]] bool is_bridge_header(std::string_view name);

enum class Choice : std::uint8_t {
  redrive,         // selected: run through the routes and the sink again
  not_selected,    // another reason, or written before --since: passed over
  not_redrivable,  // selected, but a reduced letter or not one the bridge wrote: passed over
  after_until,     // written after --until: this partition is done, the letter stays unread
};

// `timestamp_ms`: the letter's Kafka timestamp (when the bridge wrote it).
[[nodiscard]] Choice choose(const LetterHeaders& letter, std::int64_t timestamp_ms,
                            const Selection& selection);

}  // namespace bridge::redrive
