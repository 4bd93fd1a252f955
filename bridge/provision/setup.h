#pragma once
// `capillary-bridge platform setup | teardown`: from a sandbox to two streaming dataflows that
// accept exactly what the configured catalogue writes, idempotently
// (../shared/reference/platform-provisioning.md section 7).
//
// Setup looks every object up by its natural key first and prints the plan (exists / create /
// differs, and how), then acts unless it is a dry run. Objects it creates are named
// `{platform.name_prefix} …` and described as created by setup; an object of that name that setup
// did not create is used when it fits and reported when it does not, never changed. A second
// run changes nothing. It ends with the config fragment (dataset ids, schema refs, flow ids, the
// inlet URL read back from the connection).
//
// What it derives from the config: the tenant, the identity namespaces and the target names of
// the first `capillary` route; the tenant fields from transforms/capillary/tenant-fields.json (the
// declaration the golden tests hold the catalogue to) and from the configured `mapping` routes'
// typed `to:` fields (a second field group, for the profile schema, only when a mapping writes
// profile tenant fields). Teardown deletes, in dependency order,
// only objects whose name starts with the prefix and whose description says setup made them;
// identity namespaces cannot be deleted in Platform and stay.

#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "bridge/config/config.h"
#include "bridge/core/result.h"
#include "bridge/provision/api.h"
#include "transforms/api/transform.h"

namespace bridge::provision {

struct TargetIds {
  std::string dataset_id;
  std::string schema_ref;
  std::string flow_id;
};

struct SetupResult {
  int created = 0;
  int changed = 0;
  std::string fragment;  // YAML for the bridge's config
  // The same values, structured: by target name (the route's targets.profile and
  // .experience_event), and the inlet URL read back from the streaming connection.
  std::map<std::string, TargetIds> targets;
  std::string inlet_url;
};

// Everything `out` shows is the plan and progress; the fragment is returned, not printed.
// `extra`: the tenant fields the configured routes write beyond the catalogue's
// (Transform::tenant_fields of each route), declared in the field group of their output's schema.
[[nodiscard]] core::Result<SetupResult> setup(Api& api, const config::Config& config,
                                              const std::vector<transforms::TenantField>& extra,
                                              bool dry_run, std::ostream& out);

// Returns how many objects were deleted.
[[nodiscard]] core::Result<int> teardown(Api& api, const config::Config& config, std::ostream& out);

// The description every object setup creates carries (how teardown recognises them).
inline constexpr const char* kCreatedBy = "Created by capillary-bridge platform setup.";

}  // namespace bridge::provision
