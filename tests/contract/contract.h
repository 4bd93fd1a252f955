#pragma once
// XDM contract checks for the bridge's outputs (golden tests, contract unit test).
//
// Contract: the project's own JSON Schemas (bridge/xed/schemas, written from the public XDM
// field definitions for exactly the fields the bridge emits, every standard object closed),
// validated with valijson, plus Platform's extra rules (platform_rules below).
// PublicXdm: the public adobe/xdm schemas (../shared/xdm in CI), converted from source form to
// payload form; present only where that directory exists, never needed on a user's machine.
//
// Messages name the JSON path of the failing value (`$.commerce.order.priceTotal`,
// `$.productListItems[0].quantity`); an empty vector means valid. Both classes are immutable
// once loaded: check() may be called from several threads at once.
//
// Test code: load() throws std::runtime_error (which gtest turns into a failure with the
// message); check() never throws.

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tests::contract {

enum class Kind { profile, experience_event };

// "profile" / "experience-event" (also the schema file stem: <name>.schema.json).
[[nodiscard]] std::string_view to_string(Kind kind);

class Contract {
 public:
  // Reads <schema_dir>/profile.schema.json and <schema_dir>/experience-event.schema.json.
  static Contract load(const std::filesystem::path& schema_dir);

  ~Contract();
  Contract(Contract&&) noexcept;
  Contract& operator=(Contract&&) noexcept;
  Contract(const Contract&) = delete;
  Contract& operator=(const Contract&) = delete;

  // Schema errors (valijson against the kind's schema), then at most one tenant object
  // (`_<tenant>`), then platform_rules(kind, json).
  [[nodiscard]] std::vector<std::string> check(Kind kind, std::string_view json) const;

 private:
  struct Impl;
  explicit Contract(std::unique_ptr<const Impl> impl);
  std::unique_ptr<const Impl> impl_;
};

// Platform's rules that JSON Schema does not express (reference/platform-streaming.md 1.11 and
// 3.4, xdm-mapping.md sections 2 and 3):
// - the document is one JSON object, without duplicate keys;
// - no null, no "" or whitespace-only string, no {} and no [] anywhere (tenant object included);
// - identityMap is present and exactly one identity in it has `primary: true`; every identity
//   has an `id`;
// - an experience event has `_id` and `timestamp`.
[[nodiscard]] std::vector<std::string> platform_rules(Kind kind, std::string_view json);

class PublicXdm {
 public:
  // std::nullopt when <shared_xdm_dir>/components does not exist. When it exists, loads every
  // *.schema.json below it (laid out like ../shared/xdm) and throws if one does not parse or a
  // $ref has no schema with that $id.
  static std::optional<PublicXdm> load_if_present(const std::filesystem::path& shared_xdm_dir);

  ~PublicXdm();
  PublicXdm(PublicXdm&&) noexcept;
  PublicXdm& operator=(PublicXdm&&) noexcept;
  PublicXdm(const PublicXdm&) = delete;
  PublicXdm& operator=(const PublicXdm&) = delete;

  // Validates against allOf(class, field groups) for the kind, in payload form:
  //   profile:          profile, identitymap, profile-loyalty-details, profile-person-details,
  //                     profile-personal-details, external-source-system-audit-details
  //   experience_event: experienceevent (includes identitymap), experienceevent-commerce,
  //                     experienceevent-loyalty-details
  // Top-level tenant objects (`_x` other than `_id`) are dropped first: they are not public.
  // Reports valijson's errors (types, formats, patterns, enums, `required`) and, because the
  // public schemas are open (no additionalProperties: false), every field they do not declare.
  [[nodiscard]] std::vector<std::string> check(Kind kind, std::string_view json) const;

 private:
  struct Impl;
  explicit PublicXdm(std::unique_ptr<const Impl> impl);
  std::unique_ptr<const Impl> impl_;
};

// The capillary catalogue's tenant fields as declared in transforms/capillary/tenant-fields.json,
// the same declaration `capillary-bridge platform setup` turns into the tenant field group.
class TenantFields {
 public:
  // Throws when the file cannot be read or its schema does not compile.
  static TenantFields load(const std::filesystem::path& declaration);

  ~TenantFields();
  TenantFields(TenantFields&&) noexcept;
  TenantFields& operator=(TenantFields&&) noexcept;
  TenantFields(const TenantFields&) = delete;
  TenantFields& operator=(const TenantFields&) = delete;

  // For an experience event: `_<tenant>.capillary`, when present, against the declaration
  // (closed: an undeclared field is a problem). Profiles carry no capillary tenant fields: any
  // `_<tenant>.capillary` on one is a problem. Paths start at `$._<tenant>.capillary`.
  [[nodiscard]] std::vector<std::string> check(Kind kind, std::string_view json) const;

 private:
  struct Impl;
  explicit TenantFields(std::unique_ptr<const Impl> impl);
  std::unique_ptr<const Impl> impl_;
};

// ${BRIDGE_SOURCE_DIR}/transforms/capillary/tenant-fields.json (throws like schema_dir()).
[[nodiscard]] std::filesystem::path tenant_fields_file();

// ${BRIDGE_SOURCE_DIR}/bridge/xed/schemas; throws when BRIDGE_SOURCE_DIR is unset (ctest
// sets it for every test).
[[nodiscard]] std::filesystem::path schema_dir();

// ${BRIDGE_SHARED_XDM_DIR} when set, else ${BRIDGE_SOURCE_DIR}/../shared/xdm (which may not
// exist; pass it to PublicXdm::load_if_present). Throws when neither variable is set.
[[nodiscard]] std::filesystem::path shared_xdm_dir();

}  // namespace tests::contract
