#include "transforms/api/router.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <exception>
#include <utility>

namespace transforms {
namespace {

bool matches(const std::vector<std::string>& allowed, std::string_view value) {
  return allowed.empty() || std::find(allowed.begin(), allowed.end(), value) != allowed.end();
}

// Moves a factory's problems into the caller's Diagnostics. A factory only sees its settings
// node, which is null when the route has no `settings:`; such problems get the route's position.
void forward(const bridge::core::Diagnostics& from, const YAML::Mark& route_mark,
             bridge::core::Diagnostics& to) {
  for (const auto& d : from.items()) {
    if (d.line > 0) {
      YAML::Mark mark;
      mark.line = d.line - 1;
      mark.column = d.column - 1;
      to.error(mark, d.message);
    } else {
      to.error(route_mark, d.message);
    }
  }
}

}  // namespace

std::optional<RouterPlan> RouterPlan::build(const std::vector<RouteSpec>& specs,
                                            const Registry& registry,
                                            std::shared_ptr<const std::vector<Target>> targets,
                                            bridge::core::Diagnostics& diags,
                                            const BuildOptions& options) {
  const std::size_t problems_before = diags.items().size();
  RouterPlan plan;
  plan.targets_ = targets ? std::move(targets) : std::make_shared<const std::vector<Target>>();
  const std::vector<Target>* all = plan.targets_.get();
  const TargetLookup lookup = [all](std::string_view name) -> const Target* {
    for (const Target& t : *all) {
      if (t.name == name) {
        return &t;
      }
    }
    return nullptr;
  };

  plan.routes_.reserve(specs.size());
  for (std::size_t i = 0; i < specs.size(); ++i) {
    const RouteSpec& spec = specs[i];
    const TransformFactory* factory = registry.find(spec.transform);
    if (factory == nullptr) {
      diags.error(spec.mark,
                  fmt::format("route {}: {}; registered transforms: {}", i + 1,
                              spec.transform.empty()
                                  ? std::string("no transform given")
                                  : fmt::format("unknown transform '{}'", spec.transform),
                              fmt::join(registry.names(), ", ")));
      continue;
    }
    bridge::core::Diagnostics problems(diags.file());
    TransformCreator creator;
    try {
      creator = factory->create(FactoryContext{spec.settings, problems, lookup, options});
    } catch (const std::exception& e) {
      problems.error(fmt::format("{}: invalid settings: {}", spec.transform, e.what()));
      creator = nullptr;
    }
    if (!creator && problems.ok()) {
      problems.error(fmt::format("{}: the settings were rejected", spec.transform));
    }
    forward(problems, spec.mark, diags);
    plan.routes_.push_back({spec.topics, spec.events, spec.transform, std::move(creator)});
  }
  if (diags.items().size() != problems_before) {
    return std::nullopt;
  }
  return plan;
}

std::optional<std::size_t> RouterPlan::match(std::string_view topic, std::string_view event) const {
  for (std::size_t i = 0; i < routes_.size(); ++i) {
    if (matches(routes_[i].topics, topic) && matches(routes_[i].events, event)) {
      return i;
    }
  }
  return std::nullopt;
}

Stage::Stage(std::shared_ptr<const RouterPlan> plan) : plan_(std::move(plan)) {
  if (plan_) {
    instances_.resize(plan_->routes().size());
  }
}

Result<void> Stage::process(const bridge::core::RecordView& record, Emitter& out,
                            std::string_view* event_name_out) {
  // A redriven dead letter is routed, and seen by its transform, as on the topic it came from.
  bridge::core::RecordView view = record;
  if (record.redrive != nullptr) {
    view.topic = record.redrive->topic;
  }
  last_transform_ = {};
  last_event_id_ = {};
  if (event_name_out != nullptr) {
    *event_name_out = {};
  }
  // Parse once: `data` is left unchecked here, for the transform that walks it anyway; every
  // other path checks it before deciding anything, so the verdict on broken JSON is the same.
  // Whether to defer is guessed from the last record's transform (a topic's records mostly take
  // one route): a passthrough stream reads each payload in one validating pass.
  auto envelope = reader_.read(
      view.payload, defer_data_ ? EnvelopeReader::Check::defer_data : EnvelopeReader::Check::all);
  if (!envelope) {
    return tl::unexpected(std::move(envelope.error()));
  }
  if (event_name_out != nullptr) {
    *event_name_out = envelope->event_name;
  }
  last_event_id_ = envelope->event_id;
  const std::optional<std::size_t> index =
      plan_ ? plan_->match(view.topic, envelope->event_name) : std::nullopt;
  if (!index) {
    if (auto checked = reader_.check_data(); !checked) {
      return checked;
    }
    return bridge::core::reject("unmapped", fmt::format("no route for event '{}' on topic '{}'",
                                                        envelope->event_name, view.topic));
  }
  const RouterPlan::Route& route = plan_->routes()[*index];
  last_transform_ = route.transform;
  std::unique_ptr<Transform>& instance = instances_[*index];
  if (!instance) {
    try {
      instance = route.creator();
    } catch (const std::exception&) {
      instance = nullptr;
    }
    if (!instance) {
      return bridge::core::fail(
          bridge::core::ErrorKind::fatal, "transform-create",
          fmt::format("transform '{}' could not create an instance", route.transform));
    }
  }
  defer_data_ = instance->checks_data();
  if (!defer_data_) {
    if (auto checked = reader_.check_data(); !checked) {
      return checked;
    }
  }
  // apply() must not throw; if one does anyway, the record is dead-lettered rather than the
  // worker brought down. what() is left out: it may quote the record.
  try {
    return instance->apply(Input{view, *envelope, &reader_}, out);
  } catch (...) {
    return bridge::core::reject("transform-failed",
                                fmt::format("transform '{}' threw an exception", route.transform));
  }
}

}  // namespace transforms
