#pragma once
// `plugin`: runs a transform built as a shared object against the C ABI in
// capillary_bridge_plugin.h (transforms/plugin/README.md). Settings:
//
//   settings:
//     path: /opt/capillary-bridge/plugins/libacme_badges.so   # required; dlopen()ed at startup
//     settings: {eventTypePrefix: acme.}   # optional; any YAML, handed to the plugin as JSON
//     targets:                             # at least one; names from `targets:`
//       experience_event: events
//       profile: profiles
//       raw: default
//
// Startup: the factory loads the library (RTLD_NOW | RTLD_LOCAL), checks its ABI version, and
// calls the plugin's create() once with the settings to validate them; every problem is a
// diagnostic with line:column. The library stays loaded for the life of the process.
//
// Per worker: each Transform owns one plugin instance and one simdjson parser with a padded
// buffer, used to check that every emitted body is JSON before it reaches the Emitter. Outputs are
// passed to the Emitter as the plugin emits them; when the record ends up rejected, the pipeline
// drops them (as for every transform).
//
// Reject codes: the plugin's own (via reject()), `plugin-rejected` (no or invalid reason given),
// `plugin-output` (an output that is not JSON, of an unknown kind, or of a kind the route has no
// target for; or an unknown status from apply), `transform-failed` (the host ran out of memory).

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "bridge/core/diagnostics.h"
#include "transforms/api/transform.h"

namespace transforms::plugin {

inline constexpr std::string_view kName = "plugin";

std::unique_ptr<TransformFactory> make_factory();

// The plugin's settings as JSON text. Maps become objects (keys must be scalars, no duplicates),
// sequences arrays, null and a missing node `null`. A plain (unquoted, untagged) scalar becomes a
// bool (true/True/TRUE/false/False/FALSE), an integer (decimal, within 64 bits) or a finite
// number (YAML 1.2 core schema) when it reads as one; every other scalar is a string. Problems
// (non-scalar or duplicate keys, nesting deeper than 64) go to `diags` at the node; returns
// nullopt then.
[[nodiscard]] std::optional<std::string> yaml_to_json(const YAML::Node& node,
                                                      bridge::core::Diagnostics& diags);

}  // namespace transforms::plugin
