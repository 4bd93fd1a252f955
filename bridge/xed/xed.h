#pragma once
// XDM schemas as Platform's Schema Registry serves them resolved (`xed-full`), and Platform's
// streaming validation against them. One declaration of the standard fields the bridge writes
// (schemas/*.schema.json, also the golden tests' contract) serves three users:
//   - the emulator resolves the schemas `platform setup` creates with it, and validates every
//     streamed message whose dataset it knows, as Platform does;
//   - `platform check` validates sample outputs against the live resolved schemas;
//   - tests/contract checks every golden output against the same files.
//
// Payload (XED) form throughout: `xdm:` dropped, `@id` -> `_id`, tenant fields under
// `_{tenantId}`.

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "bridge/core/result.h"

namespace bridge::xed {

using json = nlohmann::json;

inline constexpr std::string_view kProfileClass = "https://ns.adobe.com/xdm/context/profile";
inline constexpr std::string_view kEventClass = "https://ns.adobe.com/xdm/context/experienceevent";
inline constexpr std::string_view kIdentityMap = "https://ns.adobe.com/xdm/context/identitymap";

// The standard classes and field groups whose fields are declared here (a tenant schema may
// extend nothing else that is not its own).
[[nodiscard]] const std::vector<std::string_view>& standard_ids();
[[nodiscard]] bool is_standard(std::string_view id);

// Resolves a schema made of `extends` (its class and field groups, allOf order) into the
// `properties` of its xed-full form: every field each standard group brings, then each tenant
// field group's definitions' `properties` merged in. `tenant_group(id)` returns a tenant field
// group's body, or null when the id is unknown (an error then, as is a standard id this file does
// not know, or no class, or two). No `$ref` is left in the answer. The event class makes `_id`
// and `timestamp` required, as XDM does.
[[nodiscard]] core::Result<json> resolve(
    const std::vector<std::string>& extends,
    const std::function<const json*(const std::string&)>& tenant_group);

// One schema violation, as Platform's streaming validation reports it.
struct Violation {
  std::string pointer;  // JSON pointer into the validated entity, `#/commerce/order/priceTotal`
  std::string keyword;  // type, enum, pattern, format, required, additionalProperties, ...
  std::string message;  // `extraneous key [foo] is not permitted`, or the validator's text
};

// A resolved schema compiled for validation (valijson, draft-07). Every object that declares
// `properties` and says nothing of `additionalProperties` is closed, since Platform rejects an
// undeclared field ("extraneous key"). Immutable; validate() may run on several threads at once.
class Validator {
 public:
  // Error when the schema cannot be compiled (a bad pattern, an unresolvable $ref).
  [[nodiscard]] static core::Result<std::shared_ptr<const Validator>> compile(const json& resolved);
  ~Validator();
  Validator(const Validator&) = delete;
  Validator& operator=(const Validator&) = delete;

  // Every violation of `entity` (the xdmEntity of a message); empty when valid.
  [[nodiscard]] std::vector<Violation> validate(const json& entity) const;

  struct Impl;

 private:
  explicit Validator(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Platform's `_streamingValidation` entry for a message (everit style: schemaLocation,
// pointerToViolation, causingExceptions, keyword, message; at most 5 causes, as Platform stops
// after 5), e.g. for the `cause` of a per-message 400 report.
[[nodiscard]] json streaming_validation(const std::vector<Violation>& violations);

}  // namespace bridge::xed
