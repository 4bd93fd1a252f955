#pragma once
// A fatal condition found off the pipeline thread (an exception escaping a worker thread, a
// component that can no longer keep its promises) is reported here instead of reaching
// std::terminate. The pipeline checks it every turn and stops without storing offsets past
// what is settled; the process exits 1 with the first reported reason.

#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace bridge::core {

// Records the first fatal reason (later ones are logged only). Thread-safe.
void report_fatal(std::string_view where, std::string_view what);
// The first reported reason, if any. Thread-safe.
[[nodiscard]] std::optional<std::string> fatal_reason();
// Test hook: forgets a reported reason.
void reset_fatal_for_tests();

// Runs `body` (a thread's whole life); an exception escaping it is logged and reported as fatal
// instead of terminating the process.
void run_guarded(std::string_view thread_name, const std::function<void()>& body);

}  // namespace bridge::core
