// Per-transform throughput of the built-in Capillary catalogue on realistic events (the first
// line of each tests/golden/capillary/<event>/input.jsonl, ~0.6-1.5 KB), single thread:
//   BM_Transform/<event>   transform only (apply() on an already unwrapped envelope)
//   BM_Stage/<event>       envelope read + routing + transform, parsed once (data validated
//                          by the transform's walk); dom_ratio = DOM parse time / stage time
//   BM_SimdjsonDom/<event> simdjson DOM parse of the same bytes: the parse-rate ceiling
// items_per_second is events/s per core; bytes_per_second is input bytes.

#include <benchmark/benchmark.h>
#include <simdjson.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "bridge/core/diagnostics.h"
#include "transforms/api/envelope.h"
#include "transforms/api/registry.h"
#include "transforms/api/router.h"
#include "transforms/builtin/builtin.h"
#include "transforms/capillary/capillary.h"

namespace {

class NullEmitter final : public transforms::Emitter {
 public:
  void emit(transforms::OutputKind, const transforms::Target&, std::string_view body) override {
    bytes += body.size();
  }
  void emit_unchanged(transforms::OutputKind, const transforms::Target&) override {}
  std::size_t bytes = 0;
};

std::string first_line(const std::string& event) {
  std::ifstream in(std::string(BRIDGE_SOURCE_DIR) + "/tests/golden/capillary/" + event +
                   "/input.jsonl");
  std::string line;
  std::getline(in, line);
  return line;
}

std::shared_ptr<const transforms::RouterPlan> make_plan() {
  static const std::shared_ptr<const transforms::RouterPlan> plan = [] {
    transforms::Registry registry;
    transforms::register_builtin_transforms(registry);
    auto targets = std::make_shared<std::vector<transforms::Target>>();
    targets->push_back({});
    targets->back().name = "profiles";
    targets->push_back({});
    targets->back().name = "events";
    transforms::RouteSpec spec;
    spec.transform = "capillary";
    spec.settings = YAML::Load(
        "{tenant: acme, targets: {profile: profiles, experience_event: events}, "
        "org_timezones: {50001: '+05:30'}, default_currency: USD}");
    bridge::core::Diagnostics diags("bench");
    auto built = transforms::RouterPlan::build({spec}, registry, targets, diags);
    if (!built) {
      std::fprintf(stderr, "bench plan: %s\n", diags.to_string().c_str());
      std::abort();
    }
    return std::make_shared<const transforms::RouterPlan>(std::move(*built));
  }();
  return plan;
}

void BM_Transform(benchmark::State& state, const std::string& event) {
  const std::string payload = first_line(event);
  transforms::EnvelopeReader reader;
  auto envelope = reader.read(payload);
  if (!envelope) {
    state.SkipWithError("envelope");
    return;
  }
  auto transform = make_plan()->routes().front().creator();
  bridge::core::RecordView view;
  view.payload = payload;
  NullEmitter out;
  for (auto _ : state) {
    auto r = transform->apply(transforms::Input{view, *envelope}, out);
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(payload.size()));
  state.counters["out_bytes/event"] =
      static_cast<double>(out.bytes) / static_cast<double>(state.iterations());
}

// simdjson's DOM parse of `payload`, ns per parse over `rounds` parses (for the ratio below).
double dom_parse_ns(const std::string& payload, int rounds) {
  const simdjson::padded_string padded(payload);
  simdjson::dom::parser parser;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < rounds; ++i) {
    simdjson::dom::element doc;
    auto e = parser.parse(padded).get(doc);
    benchmark::DoNotOptimize(e);
  }
  return std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start)
             .count() /
         rounds;
}

// One event through a Stage of its own, as a benchmark loop runs it.
struct StageRun {
  explicit StageRun(const std::string& event) : payload(first_line(event)), stage(make_plan()) {
    view.topic = "capillary.events";
    view.payload = payload;
  }
  void loop(benchmark::State& state) {
    for (auto _ : state) {
      auto r = stage.process(view, out, nullptr);
      benchmark::DoNotOptimize(r);
    }
    state.SetItemsProcessed(state.iterations());
    state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(payload.size()));
  }
  std::string payload;
  transforms::Stage stage;
  bridge::core::RecordView view;
  NullEmitter out;
};

// Also reports `dom_ratio`: simdjson DOM parse time over stage time for the same bytes, both
// measured in this run (1.0 would be a stage as cheap as parsing alone; issue 14 aims at 0.6).
void BM_Stage(benchmark::State& state, const std::string& event) {
  StageRun run(event);
  const double dom_ns = dom_parse_ns(run.payload, 20000);
  const auto start = std::chrono::steady_clock::now();
  run.loop(state);
  const double stage_ns =
      std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count() /
      static_cast<double>(std::max<std::int64_t>(1, state.iterations()));
  state.counters["dom_ratio"] = dom_ns / stage_ns;
}

// The stage on 1, 2 and 4 threads at once, each with its own Stage (what `pipeline.workers`
// runs): items_per_second is the total, by wall-clock time.
void BM_StageThreads(benchmark::State& state, const std::string& event) {
  StageRun run(event);
  run.loop(state);
}

void BM_SimdjsonDom(benchmark::State& state, const std::string& event) {
  const simdjson::padded_string payload(first_line(event));
  simdjson::dom::parser parser;
  for (auto _ : state) {
    simdjson::dom::element doc;
    auto e = parser.parse(payload).get(doc);
    benchmark::DoNotOptimize(e);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(payload.size()));
}

[[maybe_unused]] const bool registered = [] {
  for (const std::string_view e : transforms::capillary::mapped_events()) {
    const std::string name(e);
    benchmark::RegisterBenchmark(("BM_Transform/" + name).c_str(), BM_Transform, name);
  }
  benchmark::RegisterBenchmark("BM_StageThreads/transactionAdded", BM_StageThreads,
                               std::string("transactionAdded"))
      ->Threads(1)
      ->Threads(2)
      ->Threads(4)
      ->UseRealTime();
  for (const std::string_view e : transforms::capillary::mapped_events()) {
    const std::string name(e);
    benchmark::RegisterBenchmark(("BM_Stage/" + name).c_str(), BM_Stage, name);
    benchmark::RegisterBenchmark(("BM_SimdjsonDom/" + name).c_str(), BM_SimdjsonDom, name);
  }
  return true;
}();

}  // namespace
