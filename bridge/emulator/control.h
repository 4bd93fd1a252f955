#pragma once
// The control API's JSON (stats, fault sets, token TTL) and the "STATUS=RATE" flag syntax, shared
// by the HTTP control endpoints and the command line so both accept exactly the same values.

#include <chrono>
#include <string>
#include <string_view>
#include <utility>

#include "bridge/core/result.h"
#include "bridge/emulator/server.h"

namespace bridge::emulator {

// Appends `s` as a JSON string literal (quotes included).
void append_json_string(std::string& out, std::string_view s);

[[nodiscard]] std::string stats_json(const Stats& stats);
// Keys: fail_rate {"503":0.2}, retry_after, latency_ms, hang_rate, reset_rate,
// message_fail_rate, storm_ms, reject_containing, hang_containing, body_limit_bytes,
// control_fail_rate.
[[nodiscard]] std::string faults_json(const Faults& faults);
// A whole fault set; absent keys mean "no fault". Every problem is reported, in one message.
[[nodiscard]] core::Result<Faults> parse_faults_json(std::string_view json);
// {"seconds": N}
[[nodiscard]] core::Result<std::chrono::seconds> parse_token_ttl_json(std::string_view json);

// {"name": "dev", "state": "deleted"}: a control-plane sandbox and its state.
[[nodiscard]] core::Result<std::pair<std::string, std::string>> parse_sandbox_json(
    std::string_view json);

// "503=0.2": an HTTP status (100-599) and a probability in [0, 1].
[[nodiscard]] core::Result<std::pair<int, double>> parse_status_rate(std::string_view text);
// Rates in [0, 1], statuses 100-599, durations not negative.
[[nodiscard]] core::Result<void> validate_faults(const Faults& faults);

}  // namespace bridge::emulator
