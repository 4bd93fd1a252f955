#pragma once
// `capillary-bridge platform check`: a read-only preflight of a configured deployment against
// Platform. Each problem is printed with what to do about it:
//   - an IMS token can be had (every call needs one) and the sandbox is active;
//   - each Platform target's dataset exists, uses the configured schema, and is Profile-enabled
//     when it receives profile records;
//   - each target's dataflow exists, is enabled, writes to that dataset and reads from a
//     streaming connection of the configured inlets;
//   - each configured inlet exists, and requires authentication exactly when the config sends a
//     token;
//   - every output given (the catalogue and mappings over the shipped samples) is valid against
//     its target's schema as the Schema Registry resolves it (xed-full), validated the way
//     Platform's streaming validation does: types, formats, patterns, enums, required fields, and
//     no field the schema does not declare (bridge/xed).

#include <ostream>
#include <string>
#include <vector>

#include "bridge/config/config.h"
#include "bridge/core/result.h"
#include "bridge/provision/api.h"

namespace bridge::provision {

// One output a transform produced: the target it is for and its XDM entity (JSON).
struct SampleOutput {
  std::string target;
  std::string event;  // the event name, for messages
  std::string entity;
};

// The number of problems found (0: all good), or an error when the check could not run.
[[nodiscard]] core::Result<int> check(Api& api, const config::Config& config,
                                      const std::vector<SampleOutput>& outputs, std::ostream& out);

}  // namespace bridge::provision
