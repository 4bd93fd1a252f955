#pragma once
// Shared by the fuzz targets that run Stage::process over an XDM-producing transform
// (capillary_fuzz, mapping_fuzz): a recording Emitter, the checks every output must pass, and a
// run that processes each payload twice to compare.

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

#include <cstdio>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "tests/fuzz/fuzz_check.h"
#include "transforms/api/router.h"

namespace bridge::fuzz {

struct Output {
  transforms::OutputKind kind;
  std::string target;
  std::string body;
  bool operator==(const Output&) const = default;
};

class RecordingEmitter final : public transforms::Emitter {
 public:
  void emit(transforms::OutputKind kind, const transforms::Target& target,
            std::string_view body) override {
    outputs.push_back({kind, target.name, std::string(body)});
  }
  void emit_unchanged(transforms::OutputKind /*kind*/,
                      const transforms::Target& /*target*/) override {
    FUZZ_CHECK(false, "XDM transforms never forward the payload unchanged");
  }
  std::vector<Output> outputs;
};

// Platform's rule, which xdm::Writer enforces: no null, no blank string, no empty container.
inline void check_value(const rapidjson::Value& v) {
  FUZZ_CHECK(!v.IsNull(), "no null in an output");
  if (v.IsString()) {
    const std::string_view s(v.GetString(), v.GetStringLength());
    FUZZ_CHECK(s.find_first_not_of(" \t\r\n") != std::string_view::npos, "no blank string");
  } else if (v.IsObject()) {
    FUZZ_CHECK(v.MemberCount() > 0, "no empty object");
    for (const auto& m : v.GetObject()) {
      check_value(m.value);
    }
  } else if (v.IsArray()) {
    FUZZ_CHECK(!v.Empty(), "no empty array");
    for (const auto& e : v.GetArray()) {
      check_value(e);
    }
  }
}

// A JSON object by RapidJSON's strict parser: valid UTF-8, numbers within double range (RFC 8259
// leaves the range to implementations; Platform parses numbers as doubles).
inline void check_output(const Output& o) {
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseValidateEncodingFlag>(o.body.data(), o.body.size());
  if (doc.HasParseError()) {
    std::fprintf(stderr, "output is not valid JSON: %s at byte %zu\n%s\n",
                 rapidjson::GetParseError_En(doc.GetParseError()), doc.GetErrorOffset(),
                 o.body.c_str());
  }
  FUZZ_CHECK(!doc.HasParseError(), "outputs are valid JSON");
  FUZZ_CHECK(doc.IsObject(), "outputs are JSON objects");
  check_value(doc);
}

// Processes `payload` twice on `stage`: the verdict is a reject with one of `documented`
// codes or outputs that pass check_output, and the second run gives the same bytes.
inline void run_twice(transforms::Stage& stage, std::string_view topic, std::string_view payload,
                      std::initializer_list<std::string_view> documented,
                      bool success_emits_something) {
  bridge::core::RecordView view;
  view.topic = topic;
  view.payload = payload;
  RecordingEmitter first;
  const auto r = stage.process(view, first, nullptr);
  // Parse once moves the validation of `data` into the transform's walk: broken JSON is refused
  // exactly when a full envelope read refuses it, and for the same reason.
  static transforms::EnvelopeReader full_reader;
  const auto full = full_reader.read(payload);
  const auto json_code = [](const auto& result) -> std::string {
    return !result && (result.error().code == "malformed-json" || result.error().code == "encoding")
               ? result.error().code
               : std::string();
  };
  if (json_code(full) != json_code(r)) {
    std::fprintf(stderr, "full read: %s, stage: %s\n", json_code(full).c_str(),
                 json_code(r).c_str());
  }
  FUZZ_CHECK(json_code(full) == json_code(r), "broken JSON is refused as a full read refuses it");
  if (!r) {
    bool known = false;
    for (const std::string_view code : documented) {
      known = known || r.error().code == code;
    }
    if (!known) {
      std::fprintf(stderr, "reject %s: %s\n", r.error().code.c_str(), r.error().message.c_str());
    }
    FUZZ_CHECK(r.error().kind == bridge::core::ErrorKind::reject, "errors are rejects");
    FUZZ_CHECK(known, "a documented reject reason");
    FUZZ_CHECK(first.outputs.empty(), "a rejected record emits nothing");
  } else {
    FUZZ_CHECK(!success_emits_something || !first.outputs.empty(),
               "a mapped record emits something");
    for (const Output& o : first.outputs) {
      check_output(o);
    }
  }
  RecordingEmitter second;
  const auto again = stage.process(view, second, nullptr);
  FUZZ_CHECK(again.has_value() == r.has_value(), "the same payload gives the same verdict");
  FUZZ_CHECK(again || again.error().code == r.error().code, "the same reject reason");
  FUZZ_CHECK(second.outputs == first.outputs, "the same payload gives the same bytes");
}

}  // namespace bridge::fuzz
