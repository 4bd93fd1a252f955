// The built-in `capillary` transform against malformed input, through Stage::process as the
// pipeline runs it: for every catalogue event (a valid base event from
// tests/golden/capillary/<event>/input.jsonl), every value inside `data` replaced by every wrong
// JSON type, every top-level block of `data` dropped, huge arrays, deep nesting, invalid UTF-8,
// lone surrogate escapes and truncation at every byte.
//
// Whatever comes in, a record either maps or is rejected with a documented reason
// (transforms/capillary/capillary.h); outputs are valid JSON without null or empty values; an
// `invalid-field` message starts with the JSON path of the field that was broken; and the same
// input gives the same bytes. Each test prints the reject reasons it saw.

#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <rapidjson/pointer.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <simdjson.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "transforms/api/registry.h"
#include "transforms/api/router.h"
#include "transforms/builtin/builtin.h"
#include "transforms/capillary/capillary.h"

namespace transforms {
namespace {

constexpr std::string_view kTopic = "capillary.events";

struct Output {
  OutputKind kind = OutputKind::raw;
  std::string target;
  std::string body;
  bool operator==(const Output&) const = default;
};

class RecordingEmitter final : public Emitter {
 public:
  void emit(OutputKind kind, const Target& target, std::string_view body) override {
    outputs.push_back({kind, target.name, std::string(body)});
  }
  void emit_unchanged(OutputKind kind, const Target& target) override {
    outputs.push_back({kind, target.name, "<unchanged>"});
  }
  void order_key(std::string_view key) override { ordering_key.assign(key); }
  std::vector<Output> outputs;
  std::string ordering_key;
};

struct Outcome {
  bool ok = false;
  std::string code;  // the reject reason when !ok
  std::string message;
  std::vector<Output> outputs;
  bool operator==(const Outcome&) const = default;
};

std::string source_dir() {
  const char* root = std::getenv("BRIDGE_SOURCE_DIR");
  return root != nullptr ? root : "";
}

std::string first_line(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

// A plan with the capillary route, its settings and targets taken from the golden tests'
// configuration (tests/golden/capillary/bridge.yaml); `adjust` may change the settings.
std::shared_ptr<const RouterPlan> make_plan(const std::function<void(YAML::Node&)>& adjust = {}) {
  const YAML::Node config = YAML::LoadFile(source_dir() + "/tests/golden/capillary/bridge.yaml");
  auto targets = std::make_shared<std::vector<Target>>();
  for (const auto& t : config["targets"]) {
    Target target;
    target.name = t.first.as<std::string>();
    target.dataset_id = t.second["dataset_id"].as<std::string>("");
    targets->push_back(target);
  }
  YAML::Node settings = YAML::Clone(config["routes"][0]["settings"]);
  if (adjust) {
    adjust(settings);
  }
  Registry registry;
  register_builtin_transforms(registry);
  const std::vector<RouteSpec> specs = {
      {{std::string(kTopic)}, {}, std::string(capillary::kName), settings, settings.Mark()}};
  bridge::core::Diagnostics diags("bridge.yaml");
  auto built = RouterPlan::build(specs, registry, std::move(targets), diags);
  EXPECT_TRUE(built.has_value()) << diags.to_string();
  if (!built) {
    return nullptr;
  }
  return std::make_shared<const RouterPlan>(std::move(*built));
}

// What the bridge promises about every output beyond valid JSON: no null, no blank string, no
// empty object or array (Platform rejects them; xdm::Writer leaves them out). `path` is the
// location so far; it is extended and restored in place, so walking costs no allocation.
void check_no_null_or_empty(const rapidjson::Value& v, std::string& path,
                            std::vector<std::string>& problems) {
  const std::size_t at = path.size();
  if (v.IsNull()) {
    problems.push_back(path + " is null");
  } else if (v.IsString()) {
    if (std::string_view(v.GetString(), v.GetStringLength()).find_first_not_of(" \t\r\n") ==
        std::string_view::npos) {
      problems.push_back(path + " is a blank string");
    }
  } else if (v.IsObject()) {
    if (v.MemberCount() == 0) {
      problems.push_back(path + " is an empty object");
    }
    for (const auto& m : v.GetObject()) {
      path.append(".").append(m.name.GetString(), m.name.GetStringLength());
      check_no_null_or_empty(m.value, path, problems);
      path.resize(at);
    }
  } else if (v.IsArray()) {
    if (v.Empty()) {
      problems.push_back(path + " is an empty array");
    }
    for (rapidjson::SizeType i = 0; i < v.Size(); ++i) {
      path.append("[").append(std::to_string(i)).append("]");
      check_no_null_or_empty(v[i], path, problems);
      path.resize(at);
    }
  }
}

// `data.lineItems[3].qty` -> `data.lineItems[].qty`: messages name a field, not an element.
std::string without_indices(std::string_view path) {
  std::string out;
  bool in_index = false;
  for (const char c : path) {
    if (c == '[') {
      in_index = true;
      out += "[]";
    } else if (c == ']') {
      in_index = false;
    } else if (!in_index) {
      out += c;
    }
  }
  return out;
}

// True when `prefix` is `path` or a path above it (`data.coupons` is above `data.coupons[].id`
// but not above `data.couponsX`).
bool is_path_prefix(std::string_view prefix, std::string_view path) {
  if (!path.starts_with(prefix)) {
    return false;
  }
  return path.size() == prefix.size() || path[prefix.size()] == '.' || path[prefix.size()] == '[';
}

// Reject reasons seen per case, printed at the end of each test for the report.
using Tally = std::map<std::string, std::map<std::string, int>>;

void print_tally(const std::string& title, const Tally& tally) {
  std::cout << "[reasons] " << title << "\n";
  for (const auto& [group, reasons] : tally) {
    std::cout << "  " << group << ":";
    for (const auto& [reason, count] : reasons) {
      std::cout << " " << reason << "=" << count;
    }
    std::cout << "\n";
  }
}

// One catalogue event's base payload, parsed for mutation.
struct Base {
  std::string event;
  std::string line;
  rapidjson::Document doc;
  std::string data_pointer;  // JSON pointer of `data` inside the payload
};

// Where `data` sits in each envelope variant (E1 top level, E2 attributes, E3 body, E4 data).
std::string data_pointer_of(const rapidjson::Document& doc) {
  if (doc.HasMember("eventName")) {
    return "/data";
  }
  for (const char* key : {"attributes", "body", "data"}) {
    if (doc.HasMember(key) && doc[key].IsObject() && doc[key].HasMember("data")) {
      return std::string("/") + key + "/data";
    }
  }
  return {};
}

// A placeholder string that marks, after serialization, where raw JSON text goes (RapidJSON
// cannot hold `1e400` or a 5,000-deep value, and we want the exact bytes).
constexpr std::string_view kPlaceholder = "@@cb-mutation@@";

std::string serialize(const rapidjson::Value& v) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  v.Accept(writer);
  return {buffer.GetString(), buffer.GetSize()};
}

std::string escape_pointer_token(std::string_view key) {
  std::string out;
  for (const char c : key) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}

struct Field {
  std::string pointer;  // JSON pointer from the payload root
  std::string path;     // `data.lineItems[0].qty`
};

// Every value under `data` (data itself included): every key at every depth, array elements.
void collect_fields(const rapidjson::Value& v, const std::string& pointer, const std::string& path,
                    std::vector<Field>& out) {
  out.push_back({pointer, path});
  if (v.IsObject()) {
    for (const auto& m : v.GetObject()) {
      const std::string key(m.name.GetString(), m.name.GetStringLength());
      collect_fields(m.value, pointer + "/" + escape_pointer_token(key), path + "." + key, out);
    }
  } else if (v.IsArray()) {
    for (rapidjson::SizeType i = 0; i < v.Size(); ++i) {
      collect_fields(v[i], pointer + "/" + std::to_string(i), path + "[" + std::to_string(i) + "]",
                     out);
    }
  }
}

std::string nested(int depth, std::string_view open, std::string_view close,
                   std::string_view inner) {
  std::string out;
  out.reserve(static_cast<std::size_t>(depth) * (open.size() + close.size()) + inner.size());
  for (int i = 0; i < depth; ++i) {
    out += open;
  }
  out += inner;
  for (int i = 0; i < depth; ++i) {
    out += close;
  }
  return out;
}

// The wrong values every field is replaced by, as raw JSON.
const std::vector<std::pair<std::string, std::string>>& wrong_values() {
  static const std::vector<std::pair<std::string, std::string>> values = {
      {"object", R"({"k":{"x":[1,"y"]}})"},
      {"empty-object", "{}"},
      {"array", R"([1,"x",{"k":null}])"},
      {"empty-array", "[]"},
      {"string", R"("x")"},
      {"empty-string", R"("")"},
      {"blank-string", R"("   ")"},
      {"number-1e400", "1e400"},
      {"number--1e400", "-1e400"},
      {"number-huge-int", "123456789012345678901234567890"},
      {"number-negative", "-1"},
      {"number-fraction", "1.5"},
      {"number-zero", "0"},
      {"true", "true"},
      {"false", "false"},
      {"null", "null"},
      {"deep-array", nested(200, "[", "]", "1")},
      {"deep-object", nested(200, R"({"a":)", "}", R"("x")")},
  };
  return values;
}

class CapillaryMalformedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(source_dir().empty()) << "BRIDGE_SOURCE_DIR is not set (run through ctest)";
    plan_ = make_plan();
    ASSERT_NE(plan_, nullptr);
    stage_ = std::make_unique<Stage>(plan_);
  }

  Outcome run(Stage& stage, std::string_view payload) {
    bridge::core::RecordView view;
    view.topic = kTopic;
    view.payload = payload;
    RecordingEmitter out;
    std::string_view name;
    const auto r = stage.process(view, out, &name);
    Outcome o;
    o.ok = r.has_value();
    if (!r) {
      o.code = r.error().code;
      o.message = r.error().message;
      EXPECT_EQ(r.error().kind, bridge::core::ErrorKind::reject) << o.code << ": " << o.message;
    }
    o.outputs = std::move(out.outputs);
    return o;
  }

  // Runs `payload` twice on the shared stage: the first run follows whatever the stage saw last
  // (the previous case), the second follows the same payload, so state a reused transform
  // fails to reset shows up as a difference. Checks both runs agree byte for byte and that every
  // output is valid JSON with no null, and returns the outcome.
  Outcome run_checked(std::string_view payload, const std::string& what) {
    const Outcome first = run(*stage_, payload);
    const Outcome second = run(*stage_, payload);
    EXPECT_EQ(first, second) << what << ": the same input gave different results";
    if (first.ok) {
      EXPECT_FALSE(first.outputs.empty()) << what << ": mapped to nothing";
    } else {
      EXPECT_TRUE(first.outputs.empty()) << what << ": rejected but emitted outputs";
    }
    for (const Output& o : first.outputs) {
      check_output(o, what);
    }
    return first;
  }

  // Valid JSON by simdjson's DOM parser. simdjson 3.0.1 refuses integers beyond 64 bits, which
  // RFC 8259 allows and the transform splices as written (`123456789012345678901234567890`): for
  // those, RapidJSON's strict parser is the judge.
  void check_output(const Output& o, const std::string& what) {
    EXPECT_NE(o.body, "<unchanged>") << what;
    simdjson::dom::element root;
    const auto error = dom_.parse(o.body).get(root);
    rapidjson::Document doc;
    doc.Parse<rapidjson::kParseValidateEncodingFlag | rapidjson::kParseFullPrecisionFlag>(
        o.body.data(), o.body.size());
    if (error == simdjson::NUMBER_ERROR) {
      ++big_numbers_;
    } else {
      ASSERT_EQ(error, simdjson::SUCCESS)
          << what << ": output is not valid JSON (" << simdjson::error_message(error) << ")";
    }
    ASSERT_FALSE(doc.HasParseError())
        << what << ": output is not valid JSON, or has a number beyond double range: " << o.body;
    EXPECT_TRUE(doc.IsObject()) << what;
    std::vector<std::string> problems;
    std::string path = "$";
    check_no_null_or_empty(doc, path, problems);
    EXPECT_TRUE(problems.empty()) << what << ": " << ::testing::PrintToString(problems);
  }

  // The reason must be one of `allowed`; an invalid-field message must start with the path of
  // the field that was broken, of a block above it or of a field inside it.
  void expect_reason(const Outcome& o, const std::set<std::string>& allowed,
                     const std::string& broken_path, const std::string& what) {
    if (o.ok) {
      return;
    }
    EXPECT_TRUE(allowed.count(o.code))
        << what << ": unexpected reason " << o.code << ": " << o.message;
    if (o.code == "invalid-field") {
      EXPECT_TRUE(o.message.starts_with("data.")) << what << ": " << o.message;
      const std::string cited = without_indices(o.message.substr(0, o.message.find(':')));
      const std::string broken = without_indices(broken_path);
      EXPECT_TRUE(is_path_prefix(cited, broken) || is_path_prefix(broken, cited))
          << what << ": the message names another field: " << o.message;
    }
  }

  static std::string key(const Outcome& o) { return o.ok ? "ok" : o.code; }

  Base load(std::string_view event) {
    Base b;
    b.event = std::string(event);
    b.line = first_line(source_dir() + "/tests/golden/capillary/" + b.event + "/input.jsonl");
    EXPECT_FALSE(b.line.empty()) << event;
    b.doc.Parse(b.line.c_str(), b.line.size());
    EXPECT_FALSE(b.doc.HasParseError()) << event;
    b.data_pointer = data_pointer_of(b.doc);
    EXPECT_FALSE(b.data_pointer.empty()) << event << ": no data object";
    return b;
  }

  // The base payload cut around the value at `pointer`: prefix + any JSON text + suffix is the
  // event with that value replaced. Cut once per field, filled once per wrong value.
  struct Hole {
    std::string prefix;
    std::string suffix;
    [[nodiscard]] std::string with(std::string_view raw) const {
      std::string out;
      out.reserve(prefix.size() + raw.size() + suffix.size());
      return out.append(prefix).append(raw).append(suffix);
    }
  };
  static Hole hole(const Base& b, const std::string& pointer) {
    rapidjson::Document copy;
    copy.CopyFrom(b.doc, copy.GetAllocator());
    rapidjson::Pointer(pointer.c_str())
        .Set(copy, rapidjson::StringRef(kPlaceholder.data(),
                                        static_cast<rapidjson::SizeType>(kPlaceholder.size())));
    const std::string text = serialize(copy);
    const std::string quoted = "\"" + std::string(kPlaceholder) + "\"";
    const std::size_t at = text.find(quoted);
    EXPECT_NE(at, std::string::npos) << pointer;
    if (at == std::string::npos) {
      return {text, ""};
    }
    return {text.substr(0, at), text.substr(at + quoted.size())};
  }
  static std::string replaced(const Base& b, const std::string& pointer, std::string_view raw) {
    return hole(b, pointer).with(raw);
  }

  std::shared_ptr<const RouterPlan> plan_;
  std::unique_ptr<Stage> stage_;
  simdjson::dom::parser dom_;
  int big_numbers_ = 0;  // outputs with an integer beyond 64 bits
};

TEST_F(CapillaryMalformedTest, EveryBaseEventMaps) {
  ASSERT_EQ(capillary::mapped_events().size(), 17U);
  for (const std::string_view event : capillary::mapped_events()) {
    const Base b = load(event);
    const Outcome o = run_checked(b.line, b.event);
    EXPECT_TRUE(o.ok) << event << ": " << o.code << ": " << o.message;
    // A fresh stage gives the same bytes as a warmed-up one.
    Stage fresh(plan_);
    EXPECT_EQ(run(fresh, b.line), o) << event;
  }
}

// Outputs of one customer keep their order in the sink: every mapped event names its customer as
// "{orgId}:{customerId}", whatever the configured primary id format.
TEST_F(CapillaryMalformedTest, EveryMappedEventNamesItsCustomerAsOrderingKey) {
  for (const std::string_view event : capillary::mapped_events()) {
    const Base b = load(event);
    bridge::core::RecordView view;
    view.topic = kTopic;
    view.payload = b.line;
    RecordingEmitter out;
    std::string_view name;
    ASSERT_TRUE(stage_->process(view, out, &name)) << event;
    const std::string& key = out.ordering_key;
    const auto colon = key.find(':');
    ASSERT_NE(colon, std::string::npos) << event << ": " << key;
    EXPECT_EQ(key.substr(0, colon), "50001") << event << ": the golden events' org";
    EXPECT_GT(key.size(), colon + 1) << event << ": no customer id";
    EXPECT_EQ(key.find_first_not_of("0123456789", colon + 1), std::string::npos) << event;
  }
}

TEST_F(CapillaryMalformedTest, EveryFieldWithEveryWrongType) {
  Tally tally;
  std::size_t runs = 0;
  for (const std::string_view event : capillary::mapped_events()) {
    const Base b = load(event);
    const rapidjson::Value* data = rapidjson::Pointer(b.data_pointer.c_str()).Get(b.doc);
    ASSERT_NE(data, nullptr) << event;
    std::vector<Field> fields;
    collect_fields(*data, b.data_pointer, "data", fields);
    for (const Field& f : fields) {
      const Hole h = hole(b, f.pointer);
      for (const auto& [name, raw] : wrong_values()) {
        const std::string what = b.event + " " + f.path + " = " + name;
        const Outcome o = run_checked(h.with(raw), what);
        // `data` itself replaced by a non-object: only `envelope` (null counts as missing).
        const std::set<std::string> allowed =
            f.path == "data" && raw.front() != '{'
                ? std::set<std::string>{"envelope"}
                : std::set<std::string>{"invalid-field", "identity", "envelope", "too-large"};
        expect_reason(o, allowed, f.path, what);
        ++tally[f.path == "data" ? "data itself" : "fields"][key(o)];
        ++tally["by type: " + name][key(o)];
        ++runs;
      }
    }
  }
  std::cout << "[runs] " << runs << ", outputs with an integer beyond 64 bits: " << big_numbers_
            << "\n";
  print_tally("every field x every wrong type", tally);
}

TEST_F(CapillaryMalformedTest, MissingBlocks) {
  Tally tally;
  for (const std::string_view event : capillary::mapped_events()) {
    const Base b = load(event);
    const rapidjson::Value* data = rapidjson::Pointer(b.data_pointer.c_str()).Get(b.doc);
    ASSERT_TRUE(data != nullptr && data->IsObject()) << event;
    for (const auto& m : data->GetObject()) {
      const std::string key(m.name.GetString(), m.name.GetStringLength());
      rapidjson::Document copy;
      copy.CopyFrom(b.doc, copy.GetAllocator());
      rapidjson::Pointer((b.data_pointer + "/" + escape_pointer_token(key)).c_str()).Erase(copy);
      const std::string what = b.event + " without data." + key;
      const Outcome o = run_checked(serialize(copy), what);
      expect_reason(o, {"identity", "invalid-field"}, "data." + key, what);
      ++tally[b.event][this->key(o)];
      if (!o.ok) {
        ++tally["without data." + key + " (" + b.event + ")"][o.code];
      }
    }
  }
  print_tally("each top-level block of data dropped", tally);
}

// Array length for HugeArrays. Builds without NDEBUG (Debug: the asan and tsan presets) run the
// transform some 50x slower; there 10,000 entries exercise the same code in reasonable time.
#ifdef NDEBUG
constexpr std::size_t kHuge = 50'000;
#else
constexpr std::size_t kHuge = 10'000;
#endif

double seconds_to_process(Stage& stage, std::string_view payload) {
  RecordingEmitter out;
  bridge::core::RecordView view;
  view.topic = kTopic;
  view.payload = payload;
  const auto start = std::chrono::steady_clock::now();
  static_cast<void>(stage.process(view, out, nullptr));
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// A 50,000-entry array maps (or is too large under `oversize: dead_letter`) in time linear in
// its size.
TEST_F(CapillaryMalformedTest, HugeArrays) {
  const auto dead_letter_plan =
      make_plan([](YAML::Node& s) { s["limits"]["oversize"] = "dead_letter"; });
  ASSERT_NE(dead_letter_plan, nullptr);
  Tally tally;
  struct Case {
    std::string_view event;
    std::string_view array;
  };
  for (const Case c : {Case{"transactionAdded", "lineItems"}, Case{"CouponIssue", "coupons"},
                       Case{"pointsIssued", "regularPointsBreakup"}}) {
    const Base b = load(c.event);
    const std::string pointer = b.data_pointer + "/" + std::string(c.array);
    const rapidjson::Value* array = rapidjson::Pointer(pointer.c_str()).Get(b.doc);
    ASSERT_TRUE(array != nullptr && array->IsArray() && !array->Empty()) << c.event;
    const std::string element = serialize((*array)[0]);
    const Hole h = hole(b, pointer);
    const auto payload_with = [&](std::size_t n) {
      std::string raw = "[";
      raw.reserve(n * (element.size() + 1) + 2);
      for (std::size_t i = 0; i < n; ++i) {
        raw += i == 0 ? "" : ",";
        raw += element;
      }
      raw += "]";
      return h.with(raw);
    };
    const std::string small = payload_with(kHuge / 10);
    const std::string big = payload_with(kHuge);
    const std::string what =
        std::string(c.event) + " with " + std::to_string(kHuge) + " " + std::string(c.array);

    const Outcome sent = run_checked(big, what);
    expect_reason(sent, {"too-large"}, "data." + std::string(c.array), what);
    ++tally[what + " (oversize: send)"][key(sent)];
    Stage dead_letter(dead_letter_plan);
    const Outcome dropped = run(dead_letter, big);
    expect_reason(dropped, {"too-large"}, "data." + std::string(c.array), what);
    ++tally[what + " (oversize: dead_letter)"][key(dropped)];

    // Timed warm (the runs above grew every buffer), best of two. Linear is 10x, quadratic would
    // be 100x; the slack absorbs timer noise on the small runs.
    const double t_small =
        std::min(seconds_to_process(*stage_, small), seconds_to_process(*stage_, small));
    const double t_big =
        std::min(seconds_to_process(*stage_, big), seconds_to_process(*stage_, big));
    std::cout << "[time] " << what << ": a tenth in " << t_small * 1e3 << " ms, all in "
              << t_big * 1e3 << " ms\n";
    EXPECT_LT(t_big, 30 * t_small + 0.05) << what << ": not linear in the array size";
  }
  print_tally("huge arrays", tally);
}

// 5,000 nested arrays or objects: as `data` itself, as a field the transform reads, and as one
// it does not read.
TEST_F(CapillaryMalformedTest, DeepNesting) {
  Tally tally;
  const Base b = load("pointsIssued");
  const std::string data = b.data_pointer;
  for (const auto& [shape, raw] :
       {std::pair<std::string, std::string>{"arrays", nested(5'000, "[", "]", "1")},
        std::pair<std::string, std::string>{"objects", nested(5'000, R"({"a":)", "}", "1")}}) {
    for (const auto& [where, pointer] :
         {std::pair<std::string, std::string>{"data", data},
          {"data.customerIdentifiers", data + "/customerIdentifiers"},
          {"data.unknownKey", data + "/unknownKey"}}) {
      const std::string what = "5,000 nested " + shape + " as " + where;
      const Outcome o = run_checked(replaced(b, pointer, raw), what);
      ++tally[what][key(o)];
      EXPECT_FALSE(o.ok) << what << " was accepted";
      expect_reason(o, {"malformed-json", "envelope"}, where, what);
    }
  }
  print_tally("deep nesting", tally);
}

// Raw invalid UTF-8 anywhere in the payload is `encoding`, whatever field it is in.
TEST_F(CapillaryMalformedTest, InvalidUtf8) {
  Tally tally;
  for (const std::string_view event : capillary::mapped_events()) {
    const Base b = load(event);
    const rapidjson::Value* data = rapidjson::Pointer(b.data_pointer.c_str()).Get(b.doc);
    std::vector<Field> fields;
    collect_fields(*data, b.data_pointer, "data", fields);
    for (const Field& f : fields) {
      const Hole h = hole(b, f.pointer);
      for (const auto& [name, raw] :
           {std::pair<std::string, std::string>{"c3 28", "\"a\xc3\x28z\""},
            {"overlong c0 af", "\"a\xc0\xafz\""},
            {"overlong e0 80 af", "\"\xe0\x80\xaf\""},
            {"utf-16 surrogate ed a0 80", "\"\xed\xa0\x80\""},
            {"lone continuation 80", "\"\x80\""}}) {
        const std::string what = b.event + " " + f.path + " = " + name;
        const Outcome o = run_checked(h.with(raw), what);
        EXPECT_EQ(key(o), "encoding") << what << ": " << o.message;
        ++tally[name][key(o)];
      }
    }
  }
  print_tally("invalid UTF-8", tally);
}

// `\ud800` and friends are valid JSON grammar for code points UTF-8 cannot carry. The reader
// unescapes every string while it validates the payload, and simdjson refuses a lone surrogate
// there: the record is `malformed-json`, whichever field holds it. A proper pair maps as usual.
TEST_F(CapillaryMalformedTest, LoneSurrogateEscapes) {
  Tally tally;
  for (const std::string_view event : capillary::mapped_events()) {
    const Base b = load(event);
    const rapidjson::Value* data = rapidjson::Pointer(b.data_pointer.c_str()).Get(b.doc);
    std::vector<Field> fields;
    collect_fields(*data, b.data_pointer, "data", fields);
    for (const Field& f : fields) {
      const Hole h = hole(b, f.pointer);
      for (const auto& [name, raw] :
           {std::pair<std::string, std::string>{"\\ud800", R"("a\ud800z")"},
            {"\\udc00", R"("a\udc00z")"},
            {"\\ud800\\u0041", R"("\ud800\u0041")"},
            {"\\ud800\\ud800", R"("\ud800\ud800")"},
            {"\\udfff\\ud800 (reversed pair)", R"("\udfff\ud800")"}}) {
        const std::string what = b.event + " " + f.path + " = " + name;
        const Outcome o = run_checked(h.with(raw), what);
        EXPECT_EQ(key(o), "malformed-json") << what << ": " << o.message;
        ++tally[name][key(o)];
      }
      const std::string what = b.event + " " + f.path + " = \\ud83d\\ude00";
      const Outcome o = run_checked(h.with(R"("\ud83d\ude00")"), what);
      expect_reason(o, {"invalid-field", "identity", "envelope"}, f.path, what);
      for (const Output& out : o.outputs) {
        EXPECT_TRUE(simdjson::validate_utf8(out.body)) << what << ": invalid UTF-8 out";
      }
      ++tally["\\ud83d\\ude00 (valid pair)"][key(o)];
    }
  }
  print_tally("surrogate escapes", tally);
}

// Every proper prefix of a valid event is `malformed-json`, or `encoding` when the cut splits
// a multi-byte UTF-8 character: the base events, and the first line of each golden input that
// carries non-ASCII text.
TEST_F(CapillaryMalformedTest, TruncatedAtEveryByte) {
  Tally tally;
  std::vector<std::pair<std::string, std::string>> lines;
  for (const std::string_view event : capillary::mapped_events()) {
    lines.emplace_back(event, load(event).line);
    std::ifstream in(source_dir() + "/tests/golden/capillary/" + std::string(event) +
                     "/input.jsonl");
    for (std::string line; std::getline(in, line);) {
      if (std::any_of(line.begin(), line.end(), [](char c) { return (c & 0x80) != 0; })) {
        lines.emplace_back(std::string(event) + " (non-ASCII)", line);
        break;
      }
    }
  }
  for (const auto& [name, line] : lines) {
    for (std::size_t n = 0; n < line.size(); ++n) {
      const Outcome o = run(*stage_, std::string_view(line).substr(0, n));
      const bool splits_character = (static_cast<unsigned char>(line[n]) & 0xC0U) == 0x80U;
      EXPECT_EQ(key(o), splits_character ? "encoding" : "malformed-json")
          << name << " cut at byte " << n << ": " << o.message;
      ++tally[splits_character ? "cut inside a UTF-8 character" : "cut between characters"][key(o)];
    }
  }
  print_tally("truncated at every byte", tally);
}

// A payload within the default 1 MiB size limit (pipeline.max_event_bytes) can nest half a
// million arrays deep. Validating it must not take a stack frame per level: that overflowed the
// worker's stack (SIGSEGV, then the same record again after the restart). Last in this file, so
// that a regression still lets every other test report.
TEST_F(CapillaryMalformedTest, NestingAtTheSizeLimitIsRejectedWithoutAStackOverflow) {
  const Base b = load("pointsIssued");
  const int depth = static_cast<int>((1024 * 1024 - b.line.size()) / 2) - 16;
  for (const auto& [shape, raw] :
       {std::pair<std::string, std::string>{"arrays", nested(depth, "[", "]", "")},
        {"objects", nested(depth / 3, R"({"":)", "}", "0")}}) {
    const std::string payload = replaced(b, b.data_pointer + "/unknownKey", raw);
    ASSERT_LE(payload.size(), 1024U * 1024U);
    const Outcome o = run(*stage_, payload);
    EXPECT_EQ(key(o), "malformed-json") << shape << ": " << o.message;
  }
}

}  // namespace
}  // namespace transforms
