// Configuration loading from text, then the same route validation `capillary-bridge run` and
// `validate` do (bridge::app::load_and_validate: every route's factory checks its settings).
// Nothing contacts Kafka. Beyond "no crash, no sanitizer report, no exception escapes":
// - every diagnostic names the file and has a message;
// - a config without diagnostics validates to a plan, and one with diagnostics does not.
//
// load_and_validate prints the problems to stderr; tools/fuzz.sh runs this target with
// -close_fd_mask=2 (libFuzzer keeps its own and the sanitizers' reports).

#include <cstddef>
#include <cstdint>
#include <string>

#include "bridge/app/components.h"
#include "bridge/config/config.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  bridge::config::Loaded loaded = bridge::config::load_string(text, "fuzz.yaml");
  for (const auto& d : loaded.diagnostics.items()) {
    FUZZ_CHECK(d.file == "fuzz.yaml", "diagnostics name the file");
    FUZZ_CHECK(!d.message.empty(), "diagnostics have a message");
    FUZZ_CHECK(d.line >= 0 && d.column >= 0, "positions are not negative");
  }
  const bool ok = loaded.diagnostics.ok();
  const auto validated = bridge::app::load_and_validate(std::move(loaded));
  if (validated) {
    FUZZ_CHECK(ok, "a config with problems does not validate");
    FUZZ_CHECK(validated->plan != nullptr, "a validated config has a plan");
  }
  return 0;
}
