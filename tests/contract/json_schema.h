#pragma once
// Internal to tests_contract: RapidJSON parsing, JSON paths for messages, and a compiled
// valijson schema. Only this library's .cc files include it.

// valijson's RapidJSON adapter must come before any RapidJSON header: it defines RAPIDJSON_ASSERT
// to throw instead of abort, and every file of this library must see the same definition. Its own
// #warning about the order is silent here (system header), hence the #error.
#ifdef RAPIDJSON_ASSERT
#error "include tests/contract/json_schema.h before any RapidJSON header"
#endif
// clang-format off
#include <valijson/adapters/rapidjson_adapter.hpp>
#include <rapidjson/document.h>
#include <rapidjson/pointer.h>
// clang-format on
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <valijson/schema.hpp>
#include <vector>

namespace tests::contract::detail {

// Parses `json` (UTF-8 validated, full-precision numbers, nothing after the value) into `out`.
// Returns a message (`not JSON: ... at offset N`) on failure.
[[nodiscard]] std::optional<std::string> parse(std::string_view json, rapidjson::Document& out);

// Whole file; throws std::runtime_error naming the path when it cannot be read.
[[nodiscard]] std::string read_file(const std::filesystem::path& path);

// `$.a.b[0]` style paths: append an object key (bracketed and quoted unless it is a plain
// identifier) or an array index.
void append_key(std::string& path, std::string_view key);
void append_index(std::string& path, std::size_t index);

// A schema document compiled once with valijson (draft-07). The document must be
// self-contained: only local `#/...` references (see public_xdm.cc for why remote fetching is
// not used). Immutable after construction; validate() may run on several threads at once.
class CompiledSchema {
 public:
  // Throws std::runtime_error starting with `what` when valijson rejects the document.
  CompiledSchema(rapidjson::Document document, const std::string& what);
  CompiledSchema(const CompiledSchema&) = delete;
  CompiledSchema& operator=(const CompiledSchema&) = delete;

  // One message per failing value, `<path>: <valijson description>[ (value: ...)]`, without
  // valijson's "failed to validate against child schema" wrappers. Empty = valid.
  [[nodiscard]] std::vector<std::string> validate(const rapidjson::Value& instance) const;

 private:
  rapidjson::Document document_;  // kept alive for the lifetime of schema_
  valijson::Schema schema_;
};

}  // namespace tests::contract::detail
