#pragma once
// The chaos scenarios, in table order. Each sets up its topics, records, emulator and bridges on
// a Run, injects its faults and waits for the records to settle; Run::finish() does the rest.

#include <functional>
#include <string>
#include <vector>

#include "bench/chaos/run.h"

namespace bridge::chaos {

struct Scenario {
  std::string name;  // "a-kills": selectable by the whole name or by its letter(s) before '-'
  std::string what;  // one line for --list
  std::function<void(Run&)> body;
};

[[nodiscard]] const std::vector<Scenario>& scenarios();

}  // namespace bridge::chaos
