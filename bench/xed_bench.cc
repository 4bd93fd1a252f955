// Platform-style streaming validation (bridge/xed) of one catalogue output: what the emulator
// spends per message whose dataset it created, and `platform check` per sample output.
#include <benchmark/benchmark.h>

#include <fstream>
#include <sstream>
#include <string>

#include "bridge/xed/xed.h"

namespace {

using bridge::xed::json;

json read(const std::string& file) {
  std::ifstream in(file);
  std::ostringstream text;
  text << in.rdbuf();
  return json::parse(text.str());
}

void BM_XedValidateTransactionAdded(benchmark::State& state) {
  json group;
  group["definitions"]["capillary"]["properties"]["_acme"] = {
      {"type", "object"},
      {"properties",
       {{"capillary", read(BRIDGE_SOURCE_DIR "/transforms/capillary/tenant-fields.json")
                          .at("experience_event")}}}};
  auto schema = bridge::xed::resolve(
      {std::string(bridge::xed::kEventClass), std::string(bridge::xed::kIdentityMap),
       "https://ns.adobe.com/xdm/context/experienceevent-commerce",
       "https://ns.adobe.com/xdm/context/experienceevent-loyalty-details", "tenant"},
      [&](const std::string& id) { return id == "tenant" ? &group : nullptr; });
  auto validator = bridge::xed::Validator::compile(*schema);
  std::ifstream in(BRIDGE_SOURCE_DIR "/tests/golden/capillary/transactionAdded/expected.jsonl");
  std::string line;
  std::getline(in, line);
  const json entity = json::parse(line).at("body").at("xdmEntity");
  for (auto _ : state) {
    auto violations = (*validator)->validate(entity);
    benchmark::DoNotOptimize(violations);
    if (!violations.empty()) {
      state.SkipWithError("the golden output does not validate");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_XedValidateTransactionAdded);

}  // namespace
