#include "transforms/passthrough/passthrough.h"

#include <fmt/format.h>

#include <exception>
#include <optional>
#include <string>

namespace transforms::passthrough {
namespace {

std::optional<OutputKind> parse_kind(std::string_view text) {
  for (const OutputKind kind :
       {OutputKind::raw, OutputKind::profile, OutputKind::experience_event}) {
    if (to_string(kind) == text) {
      return kind;
    }
  }
  return std::nullopt;
}

class PassthroughTransform final : public Transform {
 public:
  PassthroughTransform(OutputKind kind, const Target& target) : kind_(kind), target_(target) {}

  Result<void> apply(const Input& /*input*/, Emitter& out) override {
    out.emit_unchanged(kind_, target_);
    return {};
  }

 private:
  OutputKind kind_;
  const Target& target_;
};

class PassthroughFactory final : public TransformFactory {
 public:
  [[nodiscard]] std::string_view name() const override { return kName; }

  [[nodiscard]] TransformCreator create(const FactoryContext& ctx) const override {
    try {
      return validate(ctx);
    } catch (const std::exception& e) {
      // Positionless on purpose: the router puts it at the route.
      ctx.diagnostics.error(fmt::format("passthrough: invalid settings: {}", e.what()));
      return {};
    }
  }

 private:
  static TransformCreator validate(const FactoryContext& ctx) {
    const YAML::Node& settings = ctx.settings;
    auto& diags = ctx.diagnostics;
    if (!settings.IsDefined() || settings.IsNull()) {
      diags.error("passthrough: settings are required (`target:` names the output target)");
      return {};
    }
    if (!settings.IsMap()) {
      diags.error(settings, "passthrough: settings must be a map with `target` and `kind`");
      return {};
    }
    bool ok = true;
    const Target* target = nullptr;
    bool has_target = false;
    OutputKind kind = OutputKind::raw;
    for (const auto& entry : settings) {
      const YAML::Node& key = entry.first;
      const YAML::Node& value = entry.second;
      const std::string name = key.IsScalar() ? key.Scalar() : std::string();
      if (name == "target") {
        has_target = true;
        if (!value.IsScalar() || value.Scalar().empty()) {
          diags.error(value, "passthrough: `target` must be a target name");
          ok = false;
          continue;
        }
        target = ctx.targets(value.Scalar());
        if (target == nullptr) {
          diags.error(value, fmt::format("passthrough: unknown target '{}' (targets are defined "
                                         "under `targets:`)",
                                         value.Scalar()));
          ok = false;
        }
      } else if (name == "kind") {
        const auto parsed =
            value.IsScalar() ? parse_kind(value.Scalar()) : std::optional<OutputKind>();
        if (!parsed) {
          diags.error(value, fmt::format("passthrough: `kind` '{}' is not one of raw, profile, "
                                         "experience_event",
                                         value.IsScalar() ? value.Scalar() : std::string("?")));
          ok = false;
          continue;
        }
        kind = *parsed;
      } else {
        diags.error(key,
                    fmt::format("passthrough: unknown setting '{}' (known: target, kind)", name));
        ok = false;
      }
    }
    if (!has_target) {
      diags.error(settings, "passthrough: `target` is required");
      ok = false;
    }
    if (!ok || target == nullptr) {
      return {};
    }
    return [kind, target] { return std::make_unique<PassthroughTransform>(kind, *target); };
  }
};

}  // namespace

std::unique_ptr<TransformFactory> make_factory() {
  return std::make_unique<PassthroughFactory>();
}

}  // namespace transforms::passthrough
