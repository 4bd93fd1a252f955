#pragma once
// Routing: which transform handles a record, chosen by (topic, event name), first match wins.
//
// RouterPlan is built once at startup from the configured routes: every route's factory
// validates its settings there (all problems go to Diagnostics with line:column) and yields a
// TransformCreator. The plan is immutable afterwards and shared read-only by all workers through
// a shared_ptr<const RouterPlan>. It owns the configured targets, so the Target pointers handed
// to factories stay valid for as long as any worker holds the plan.
//
// Stage is the per-worker half: it owns an EnvelopeReader and, lazily, one Transform instance
// per route, and is used only from its worker's thread.

#include <yaml-cpp/yaml.h>

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bridge/core/diagnostics.h"
#include "bridge/core/record.h"
#include "bridge/core/result.h"
#include "transforms/api/envelope.h"
#include "transforms/api/registry.h"
#include "transforms/api/transform.h"

namespace transforms {

// One configured route, as read from the `routes:` list.
struct RouteSpec {
  std::vector<std::string> topics;  // empty = any topic
  std::vector<std::string> events;  // empty = any event name
  std::string transform;            // registered factory name
  YAML::Node settings;              // handed to the factory as is
  YAML::Mark mark;                  // position of the route, for diagnostics
};

class RouterPlan {
 public:
  struct Route {
    std::vector<std::string> topics;
    std::vector<std::string> events;
    std::string transform;
    TransformCreator creator;
  };

  // Validates every route (unknown transform names, each factory's settings) and reports every
  // problem to `diags`; problems a factory reports without a position get the route's position.
  // Returns nullopt when any problem was reported. Never throws.
  [[nodiscard]] static std::optional<RouterPlan> build(
      const std::vector<RouteSpec>& specs, const Registry& registry,
      std::shared_ptr<const std::vector<Target>> targets, bridge::core::Diagnostics& diags,
      const BuildOptions& options = BuildOptions{});

  // Index of the first route matching (topic, event), if any.
  [[nodiscard]] std::optional<std::size_t> match(std::string_view topic,
                                                 std::string_view event) const;

  [[nodiscard]] const std::vector<Route>& routes() const { return routes_; }
  [[nodiscard]] const std::vector<Target>& targets() const { return *targets_; }

 private:
  RouterPlan() = default;

  std::shared_ptr<const std::vector<Target>> targets_;
  std::vector<Route> routes_;
};

class Stage {
 public:
  // A null plan behaves like a plan without routes (every record is `unmapped`).
  explicit Stage(std::shared_ptr<const RouterPlan> plan);

  // Unwraps the envelope, picks the route and applies its transform. Envelope errors
  // (`malformed-json`, `encoding`, `envelope`) are returned as they are; a record no route takes
  // is rejected as `unmapped`. `*event_name_out` (when not null) is set to the event name once
  // known, else empty; it views the payload, so it is valid as long as view.payload is.
  [[nodiscard]] Result<void> process(const bridge::core::RecordView& view, Emitter& out,
                                     std::string_view* event_name_out);

  // Name of the transform the last process() call routed to; empty when none matched. For
  // metrics labels; valid for the Stage's life.
  [[nodiscard]] std::string_view last_transform() const { return last_transform_; }
  // eventId of the last process() call's envelope; empty when unknown. Views the payload.
  [[nodiscard]] std::string_view last_event_id() const { return last_event_id_; }

 private:
  std::shared_ptr<const RouterPlan> plan_;
  EnvelopeReader reader_;
  std::vector<std::unique_ptr<Transform>> instances_;  // per route, created on first use
  std::string_view last_transform_;
  std::string_view last_event_id_;
  bool defer_data_ = true;  // the last routed transform checks `data` itself
};

}  // namespace transforms
