#include "transforms/xdm/settings.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <exception>

#include "transforms/api/values.h"

namespace transforms::xdm {
namespace {

bool is_upper_alpha(char c) {
  return c >= 'A' && c <= 'Z';
}

bool valid_currency(std::string_view s) {
  return s.size() == 3 && std::all_of(s.begin(), s.end(), is_upper_alpha);
}

bool valid_symbol(std::string_view s) {
  return !s.empty() && std::none_of(s.begin(), s.end(), [](char c) {
    // Symbols become JSON keys written without escaping.
    return values::is_space(c) || c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20;
  });
}

class Parser {
 public:
  Parser(const FactoryContext& ctx, std::string_view transform) : ctx_(ctx), name_(transform) {}

  void error(const YAML::Node& node, std::string_view message) {
    ctx_.diagnostics.error(node, fmt::format("{}: {}", name_, message));
    ok_ = false;
  }

  [[nodiscard]] bool ok() const { return ok_; }

  std::optional<std::string> scalar(const YAML::Node& node, std::string_view what) {
    if (!node.IsScalar() || node.Scalar().empty()) {
      error(node, fmt::format("`{}` must be a non-empty string", what));
      return std::nullopt;
    }
    return node.Scalar();
  }

  std::optional<std::int64_t> org_id(const YAML::Node& key) {
    std::int64_t v = 0;
    const std::string& s = key.IsScalar() ? key.Scalar() : std::string();
    const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || ec != std::errc{} || p != s.data() + s.size() || v <= 0) {
      error(key, fmt::format("'{}' is not an orgId (a positive integer)", s));
      return std::nullopt;
    }
    return v;
  }

  void target(const YAML::Node& node, std::string_view what, const Target*& out) {
    const auto name = scalar(node, what);
    if (!name) {
      return;
    }
    out = ctx_.targets(*name);
    if (out == nullptr) {
      error(node, fmt::format("unknown target '{}' for `{}` (targets are defined under "
                              "`targets:`)",
                              *name, what));
    }
  }

  void targets(const YAML::Node& node, OutputSettings& out) {
    if (!node.IsMap()) {
      error(node, "`targets` must be a map: {profile: <target>, experience_event: <target>}");
      return;
    }
    for (const auto& kv : node) {
      const std::string k = kv.first.Scalar();
      if (k == "profile") {
        target(kv.second, "targets.profile", out.profile_target);
      } else if (k == "experience_event") {
        target(kv.second, "targets.experience_event", out.event_target);
      } else {
        error(kv.first,
              fmt::format("unknown key 'targets.{}' (known: profile, experience_event)", k));
      }
    }
  }

  void identity(const YAML::Node& node, OutputSettings& out) {
    if (!node.IsMap()) {
      error(node, "`identity` must be a map with customer_id_format and namespaces");
      return;
    }
    for (const auto& kv : node) {
      const std::string k = kv.first.Scalar();
      if (k == "customer_id_format") {
        const auto v = scalar(kv.second, "identity.customer_id_format");
        if (v == "{customerId}") {
          out.customer_id_format = CustomerIdFormat::customer_id;
        } else if (v == "{orgId}:{customerId}") {
          out.customer_id_format = CustomerIdFormat::org_and_customer_id;
        } else if (v) {
          error(kv.second, fmt::format("identity.customer_id_format '{}' is not one of "
                                       "\"{{customerId}}\", \"{{orgId}}:{{customerId}}\"",
                                       *v));
        }
      } else if (k == "namespaces") {
        namespaces(kv.second, out.namespaces);
      } else {
        error(kv.first,
              fmt::format("unknown key 'identity.{}' (known: customer_id_format, namespaces)", k));
      }
    }
  }

  void namespaces(const YAML::Node& node, IdentityNamespaces& ns) {
    if (!node.IsMap()) {
      error(node, "`identity.namespaces` must be a map of identity → namespace symbol");
      return;
    }
    for (const auto& kv : node) {
      const std::string k = kv.first.Scalar();
      std::string* slot = k == "customer_id"   ? &ns.customer_id
                          : k == "email"       ? &ns.email
                          : k == "phone"       ? &ns.phone
                          : k == "external_id" ? &ns.external_id
                          : k == "card_number" ? &ns.card_number
                                               : nullptr;
      if (slot == nullptr) {
        error(kv.first, fmt::format("unknown identity '{}' (known: customer_id, email, phone, "
                                    "external_id, card_number)",
                                    k));
        continue;
      }
      const auto v = scalar(kv.second, "identity.namespaces." + k);
      if (v && !valid_symbol(*v)) {
        error(kv.second, fmt::format("namespace symbol '{}' contains blanks or quotes", *v));
      } else if (v) {
        *slot = *v;
      }
    }
  }

  // A map of orgId → value (`key` names it in messages, `shape` says what a value looks like):
  // each entry with a valid orgId and a scalar is handed to `each(org, text, value_node)`.
  template <typename Each>
  void per_org(const YAML::Node& node, std::string_view key, std::string_view shape, Each each) {
    if (!node.IsMap()) {
      error(node, fmt::format("`{}` must be a map of orgId → {}", key, shape));
      return;
    }
    for (const auto& kv : node) {
      const auto org = org_id(kv.first);
      const auto text = scalar(kv.second, key);
      if (org && text) {
        each(*org, *text, kv.second);
      }
    }
  }

  void timezones(const YAML::Node& node, OutputSettings& out) {
    per_org(node, "org_timezones", "UTC offset (\"+05:30\")",
            [&](std::int64_t org, const std::string& text, const YAML::Node& at) {
              const auto offset = values::parse_utc_offset(text);
              if (!offset) {
                error(at, fmt::format("'{}' is not a UTC offset such as \"+05:30\", \"-08:00\" or "
                                      "\"Z\" (IANA zone names are not supported)",
                                      text));
                return;
              }
              out.org_offsets.emplace_back(org, *offset);
            });
  }

  void phone_codes(const YAML::Node& node, OutputSettings& out) {
    per_org(node, "org_phone_country_codes", "calling code (\"91\")",
            [&](std::int64_t org, const std::string& code, const YAML::Node& at) {
              const bool digits = std::all_of(code.begin(), code.end(), values::is_digit);
              if (code.empty() || code.size() > 3 || !digits || code.front() == '0') {
                error(at, fmt::format("'{}' is not a calling code: 1 to 3 digits without `+` or a "
                                      "leading 0 (\"91\", \"1\", \"971\")",
                                      code));
                return;
              }
              out.org_phone_codes.emplace_back(org, code);
            });
  }

  std::optional<std::string> currency(const YAML::Node& node, std::string_view what) {
    auto v = scalar(node, what);
    if (v && !valid_currency(*v)) {
      error(node,
            fmt::format("`{}` '{}' is not an ISO 4217 code (three capital letters)", what, *v));
      return std::nullopt;
    }
    return v;
  }

  void currencies(const YAML::Node& node, OutputSettings& out) {
    per_org(node, "org_currencies", "ISO 4217 code",
            [&](std::int64_t org, const std::string& code, const YAML::Node& at) {
              if (!valid_currency(code)) {
                error(at, fmt::format("`org_currencies` '{}' is not an ISO 4217 code (three "
                                      "capital letters)",
                                      code));
                return;
              }
              out.org_currencies.emplace_back(org, code);
            });
  }

  void limits(const YAML::Node& node, OutputSettings& out) {
    if (!node.IsMap()) {
      error(node, "`limits` must be a map (experience_event_bytes, profile_bytes, oversize)");
      return;
    }
    for (const auto& kv : node) {
      const std::string k = kv.first.Scalar();
      if (k == "experience_event_bytes" || k == "profile_bytes") {
        std::size_t v = 0;
        const std::string& s = kv.second.IsScalar() ? kv.second.Scalar() : std::string();
        const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
        if (s.empty() || ec != std::errc{} || p != s.data() + s.size() || v == 0) {
          error(kv.second, fmt::format("limits.{} must be a positive number of bytes", k));
          continue;
        }
        (k == "profile_bytes" ? out.max_profile_bytes : out.max_event_bytes) = v;
      } else if (k == "oversize") {
        const auto v = scalar(kv.second, "limits.oversize");
        if (v == "send") {
          out.oversize = OversizePolicy::send;
        } else if (v == "dead_letter") {
          out.oversize = OversizePolicy::dead_letter;
        } else if (v) {
          error(kv.second, fmt::format("limits.oversize '{}' is not one of send, dead_letter", *v));
        }
      } else {
        error(kv.first, fmt::format("unknown key 'limits.{}' (known: experience_event_bytes, "
                                    "profile_bytes, oversize)",
                                    k));
      }
    }
  }

 private:
  const FactoryContext& ctx_;
  std::string_view name_;
  bool ok_ = true;
};

// The value configured for `org_id` in a per-org list, or null.
template <typename T>
const T* for_org(const std::vector<std::pair<std::int64_t, T>>& list, std::int64_t org_id) {
  for (const auto& [org, value] : list) {
    if (org == org_id) {
      return &value;
    }
  }
  return nullptr;
}

}  // namespace

int OutputSettings::offset_minutes(std::int64_t org_id) const {
  const int* offset = for_org(org_offsets, org_id);
  return offset != nullptr ? *offset : 0;
}

std::string_view OutputSettings::phone_code(std::int64_t org_id) const {
  const std::string* code = for_org(org_phone_codes, org_id);
  return code != nullptr ? std::string_view(*code) : std::string_view();
}

std::string_view OutputSettings::currency(std::int64_t org_id) const {
  const std::string* code = for_org(org_currencies, org_id);
  return code != nullptr ? std::string_view(*code) : std::string_view(default_currency);
}

bool parse_output_settings(const FactoryContext& ctx, std::string_view transform,
                           std::initializer_list<std::string_view> other_keys,
                           OutputSettings& out) {
  const YAML::Node& settings = ctx.settings;
  if (!settings.IsDefined() || settings.IsNull() || !settings.IsMap()) {
    ctx.diagnostics.error(
        fmt::format("{}: settings must be a map with at least `tenant` and "
                    "`targets`",
                    transform));
    return false;
  }
  Parser p(ctx, transform);
  try {
    bool has_tenant = false;
    bool has_targets = false;
    for (const auto& kv : settings) {
      const std::string k = kv.first.IsScalar() ? kv.first.Scalar() : std::string();
      const YAML::Node& v = kv.second;
      if (k == "tenant") {
        has_tenant = true;
        const auto t = p.scalar(v, "tenant");
        if (t && (!std::all_of(t->begin(), t->end(), [](char c) {
              return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || values::is_digit(c) ||
                     c == '_';
            }) || t->front() == '_')) {
          p.error(v, fmt::format("tenant '{}' must be the tenant id without the leading "
                                 "underscore (letters, digits, _)",
                                 *t));
        } else if (t) {
          out.tenant_key = "_" + *t;
        }
      } else if (k == "targets") {
        has_targets = true;
        p.targets(v, out);
      } else if (k == "identity") {
        p.identity(v, out);
      } else if (k == "org_timezones") {
        p.timezones(v, out);
      } else if (k == "org_phone_country_codes") {
        p.phone_codes(v, out);
      } else if (k == "default_currency") {
        if (auto c = p.currency(v, "default_currency")) {
          out.default_currency = *c;
        }
      } else if (k == "org_currencies") {
        p.currencies(v, out);
      } else if (k == "limits") {
        p.limits(v, out);
      } else if (std::find(other_keys.begin(), other_keys.end(), k) == other_keys.end()) {
        std::string known =
            "tenant, targets, identity, org_timezones, org_phone_country_codes, "
            "default_currency, org_currencies, limits";
        for (const auto o : other_keys) {
          known += fmt::format(", {}", o);
        }
        p.error(kv.first, fmt::format("unknown setting '{}' (known: {})", k, known));
      }
    }
    const IdentityNamespaces& ns = out.namespaces;
    const std::string* symbols[] = {&ns.customer_id, &ns.email, &ns.phone, &ns.external_id,
                                    &ns.card_number};
    for (std::size_t i = 0; i < std::size(symbols); ++i) {
      for (std::size_t j = i + 1; j < std::size(symbols); ++j) {
        if (*symbols[i] == *symbols[j]) {
          p.error(settings, fmt::format("identity namespace symbol '{}' is used for two "
                                        "identities: each needs its own",
                                        *symbols[i]));
        }
      }
    }
    if (!has_tenant) {
      p.error(settings, "`tenant` is required (the tenant id, e.g. acme for _acme)");
    }
    if (!has_targets) {
      p.error(settings, "`targets` is required ({profile: <target>, experience_event: <target>})");
    } else if (p.ok() && out.profile_target == nullptr && out.event_target == nullptr) {
      p.error(settings, "`targets` names no output: set profile, experience_event or both");
    }
  } catch (const std::exception& e) {
    p.error(settings, fmt::format("invalid settings: {}", e.what()));
  }
  return p.ok();
}

std::string check_size(const OutputSettings& settings, OutputKind kind, std::size_t bytes,
                       Emitter& out) {
  const bool profile = kind == OutputKind::profile;
  const std::size_t limit = profile ? settings.max_profile_bytes : settings.max_event_bytes;
  if (bytes <= limit) {
    return {};
  }
  out.warning(profile ? "oversize-profile" : "oversize-experience-event");
  if (settings.oversize == OversizePolicy::send) {
    return {};
  }
  return fmt::format(
      "{} is {} bytes, over the {}-byte limit (limits.{}; set limits.oversize: "
      "send to send it anyway)",
      profile ? "profile record" : "experience event", bytes, limit,
      profile ? "profile_bytes" : "experience_event_bytes");
}

}  // namespace transforms::xdm
