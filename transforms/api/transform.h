#pragma once
// The transform stage's contract. A Transform turns one consumed Capillary record (already
// unwrapped from its envelope variant) into 0..n outputs, or rejects it with a reason code that
// the pipeline writes to the dead-letter topic.
//
// Lifetimes and threads: a TransformFactory validates its settings once at startup and returns a
// TransformCreator; each pipeline worker calls the creator to get its own Transform instance,
// which is only ever used from that worker's thread. Views in Input are valid only for the
// duration of apply(); bodies passed to Emitter::emit are copied by the emitter.

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "bridge/core/diagnostics.h"
#include "bridge/core/record.h"
#include "bridge/core/result.h"

namespace transforms {

using bridge::core::Result;

enum class OutputKind : std::uint8_t {
  profile,           // XDM Individual Profile record
  experience_event,  // XDM ExperienceEvent
  raw,               // anything else (passthrough, custom payloads)
};

std::string_view to_string(OutputKind kind);

// Where an output goes. Defined once in config (`targets:`) and shared read-only by all workers
// for the life of the process; sinks interpret it (Platform: dataset/schema/flow; Kafka: topic).
struct Target {
  std::string name;        // config name, used in metrics labels
  std::string dataset_id;  // Platform dataset id (optional for non-Platform sinks)
  std::string schema_ref;  // Platform schema $id (optional)
  // Platform schema representation, header.schemaRef.contentType.
  std::string content_type = "application/vnd.adobe.xed-full+json;version=1";
  std::string flow_id;  // Platform dataflow id (optional)
  std::string topic;    // kafka sink: outbound topic override (optional)
  std::string inlet;    // platform sink: name of the inlet (streaming connection); "" = default
};

// Which documented envelope shape the record came in (reference/capillary-events.md section 3).
enum class EnvelopeVariant : std::uint8_t {
  e1_flat,     // { eventName, eventId, orgId, createdAt, data, ... }
  e2_wrapped,  // { eventId, eventType, actionType, timeStamp, attributes:{ eventName, data, ... } }
  e3_body,     // { "body": E1 }
  e4_api_response,  // { "data": E1, "errors": ..., "warnings": ... }
  e5_raw,           // internal event log: E1 keys plus eventLogId / traceAttributes
};

std::string_view to_string(EnvelopeVariant variant);

// The unwrapped event. All views point into the consumed payload or into the EnvelopeReader's
// scratch space, and are valid until the next EnvelopeReader::read() on the same reader.
struct Envelope {
  EnvelopeVariant variant = EnvelopeVariant::e1_flat;
  std::string_view event_name;  // trimmed; E2 `<orgId>_` prefix stripped
  std::string_view event_id;    // empty when absent
  std::int64_t org_id = 0;
  bool has_org_id = false;
  std::int64_t created_at_ms = 0;  // createdAt, or E2 attributes.createdAt / timeStamp
  bool has_created_at = false;
  std::string_view event_raw;  // raw JSON of the object holding eventName (E2: `attributes`)
  std::string_view data_raw;   // raw JSON of `data`; empty when absent
  // Optional envelope strings (trimmed; empty when absent or not a string/number). In E2 they
  // come from `attributes` first. loyalty_event_id may also sit inside `data`: transforms look
  // there when this is empty.
  std::string_view ref_id;
  std::string_view api_request_id;
  std::string_view loyalty_event_id;
  std::string_view event_log_id;  // a number's text as written, or a string
};

class EnvelopeReader;

struct Input {
  const bridge::core::RecordView& record;
  const Envelope& envelope;
  // The reader that produced `envelope`: its data() hands out `data` already parsed. Null when
  // the caller has only the envelope (plugins' callers, tests); then parse envelope.data_raw.
  EnvelopeReader* reader = nullptr;
};

// Receives a transform's outputs. Implemented by the pipeline (and by the `transform` CLI).
class Emitter {
 public:
  virtual ~Emitter() = default;
  // `body` is a complete JSON document; it is copied before emit() returns.
  virtual void emit(OutputKind kind, const Target& target, std::string_view body) = 0;
  // The consumed payload goes out byte-for-byte, without a copy (fluent-bit's "unchanged").
  virtual void emit_unchanged(OutputKind kind, const Target& target) = 0;
  // A non-fatal problem with the record: a field left out because it did not parse, an output
  // over Platform's size guidance. `code` is a short, stable token from a small fixed set (it
  // becomes a metric label); it never carries values from the record.
  virtual void warning(std::string_view code) { static_cast<void>(code); }
  // The customer this record's outputs are about (e.g. "orgId:customerId"): outputs of one
  // ordering key reach the destination in order. Copied; the last call wins. Transforms that
  // resolve no customer leave it unset, and the record key (else the partition) is used.
  virtual void order_key(std::string_view key) { static_cast<void>(key); }
};

// A field a transform writes under the tenant object (`_{tenant}`), declared for
// `capillary-bridge platform setup`, which puts it in the tenant field group of the schema for
// `kind`.
struct TenantField {
  OutputKind kind = OutputKind::experience_event;
  std::string path;    // below the tenant object, dotted; an array's elements as `[]`:
                       // "capillary.streakId", "capillary.tiers[].name"
  std::string type;    // JSON Schema type: string, integer, number, boolean; empty: not known
                       // before the data is seen (setup then asks for a `type:`)
  std::string format;  // "date-time" or empty
  std::string origin;  // where it is configured, for messages ("line 12")
};

class Transform {
 public:
  virtual ~Transform() = default;
  // Never throws. An error of kind `reject` dead-letters the record with error.code as reason.
  [[nodiscard]] virtual Result<void> apply(const Input& input, Emitter& out) = 0;
  // True when apply() validates all of `data` before anything it may reject for, and rejects
  // broken JSON there as `malformed-json` (transforms::check_value for what it does not read):
  // the stage then defers that validation to it (EnvelopeReader::Check::defer_data). False (the
  // default): `data` is validated before apply() is called.
  [[nodiscard]] virtual bool checks_data() const { return false; }
  // The tenant fields this transform writes beyond transforms/capillary/tenant-fields.json (which
  // setup declares anyway): a `mapping` route's. Default: none.
  [[nodiscard]] virtual std::vector<TenantField> tenant_fields() const { return {}; }
};

using TransformCreator = std::function<std::unique_ptr<Transform>()>;

// Looks up a configured target by name; returns nullptr when unknown.
using TargetLookup = std::function<const Target*(std::string_view name)>;

// What the process lets transforms load: set from the config's top level and the command.
struct BuildOptions {
  // Plugins (`transform: plugin`) load only from under this absolute directory; empty: none may.
  std::string plugin_dir;
  // False: settings and plugin paths are checked, no code is loaded (`validate --no-plugins`).
  // A plan built so is for checking only: its plugin routes create no transform.
  bool load_code = true;
};

struct FactoryContext {
  const YAML::Node& settings;  // the route's `settings:` map (may be null/undefined)
  bridge::core::Diagnostics& diagnostics;
  const TargetLookup& targets;
  const BuildOptions& options;
};

class TransformFactory {
 public:
  virtual ~TransformFactory() = default;
  [[nodiscard]] virtual std::string_view name() const = 0;
  // Validates settings once (unknown keys are errors, reported with line:column). Returns an
  // empty creator when there were problems; every problem is in ctx.diagnostics.
  [[nodiscard]] virtual TransformCreator create(const FactoryContext& ctx) const = 0;
};

}  // namespace transforms
