#pragma once
// Platform's control plane as the emulator serves it: Sandbox management, Schema Registry
// (stats, field groups, schemas, descriptors), Identity namespaces, Catalog datasets and Flow
// Service (base, source and target connections, dataflows). Request and answer shapes, required
// headers, error bodies, id formats and list filters follow
// ../shared/reference/platform-provisioning.md; where it says UNCONFIRMED the choice is noted at
// the handler. State is in memory; dump() and reset() back the emulator's control API.
//
// Pure request -> answer: no sockets, no clock of its own beyond timestamps in bodies. The HTTP
// server (server.cc) hands over every /data/... request. Thread-safe: one mutex around the state.

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "bridge/xed/xed.h"

namespace bridge::emulator {

struct CpRequest {
  std::string method;  // GET, POST, PUT, PATCH, DELETE
  std::string path;    // URL path, percent-decoded, without the query string
  std::vector<std::pair<std::string, std::string>> query;  // decoded, in order (repeatable)
  std::map<std::string, std::string> headers;              // names lower-case
  std::string body;
  bool token_valid = false;  // Authorization carries a live token this emulator issued
};

struct CpAnswer {
  int status = 200;
  std::string body;  // JSON, or empty (204)
  std::vector<std::pair<std::string, std::string>> headers;
};

struct ControlPlaneOptions {
  std::string org_id;  // x-gw-ims-org-id every call must carry (empty: any non-empty value)
  std::string api_key = "capillary-bridge-dev";   // x-api-key (the IMS client id)
  std::string tenant_id = "capillarybridge";      // GET /stats tenantId (no underscore)
  std::vector<std::string> sandboxes = {"prod"};  // active sandboxes
  std::string inlet_base_url;  // inletUrl = {inlet_base_url}/collection/{inletId}
};

class ControlPlane {
 public:
  explicit ControlPlane(ControlPlaneOptions options);
  ~ControlPlane();
  ControlPlane(const ControlPlane&) = delete;
  ControlPlane& operator=(const ControlPlane&) = delete;

  // Every path under /data/ (anything else: 404).
  [[nodiscard]] CpAnswer handle(const CpRequest& request);

  // Streaming validation (server.cc): whether `dataset_id` is a dataset created here, its
  // schema's $id, and that schema resolved and compiled (null when the schema cannot be resolved:
  // the message is then not validated). Compiled once per schema until the next write.
  struct DatasetSchema {
    bool known = false;
    std::string schema_id;
    std::shared_ptr<const xed::Validator> validator;
  };
  [[nodiscard]] DatasetSchema dataset_schema(const std::string& dataset_id);

  // Everything created, per service, as JSON (GET /emulator/control-plane).
  [[nodiscard]] std::string dump() const;
  // Back to the seeded state: no tenant objects, standard namespaces only.
  void reset();
  // Test hooks: a sandbox's state ("active", "deleted", "creating"...); a sandbox not known yet
  // is added.
  void set_sandbox_state(const std::string& name, const std::string& state);
  void set_inlet_base_url(std::string url);

  struct State;

 private:
  ControlPlaneOptions options_;
  mutable std::mutex mu_;
  std::unique_ptr<State> state_;
};

}  // namespace bridge::emulator
