// Micro-benchmarks of the per-record hot path that does not touch the network: the offset
// tracker (every record) and the envelope reader (every record).
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "bridge/offsets/tracker.h"
#include "transforms/api/envelope.h"

namespace {

// In-order acknowledgement: the common case, one track + one settle per record.
void BM_TrackerInOrder(benchmark::State& state) {
  bridge::offsets::PartitionTracker tracker;
  std::int64_t offset = 0;
  for (auto _ : state) {
    tracker.track(offset);
    tracker.settle(offset);
    ++offset;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_TrackerInOrder);

// Acknowledgements arrive reversed within windows of `range(0)` records (sink batches that
// complete out of order).
void BM_TrackerOutOfOrder(benchmark::State& state) {
  const auto window = state.range(0);
  bridge::offsets::PartitionTracker tracker;
  std::int64_t base = 0;
  for (auto _ : state) {
    for (std::int64_t i = 0; i < window; ++i) {
      tracker.track(base + i);
    }
    for (std::int64_t i = window - 1; i >= 0; --i) {
      tracker.settle(base + i);
    }
    base += window;
  }
  state.SetItemsProcessed(state.iterations() * window);
}
BENCHMARK(BM_TrackerOutOfOrder)->Arg(64)->Arg(4096);

std::string transaction_event() {
  std::string items;
  for (int i = 0; i < 6; ++i) {
    items += std::string(i ? "," : "") + R"({"itemCode":"SKU-)" + std::to_string(1000 + i) +
             R"(","description":"Item number )" + std::to_string(i) +
             R"(","qty":2,"rate":499.5,"value":999.0,"discountValue":0,"amount":999.0,)" +
             R"("attributes":[{"name":"brand","value":"Acme"}]})";
  }
  return R"({"eventName":"transactionAdded","eventId":"evt-000123456789","orgId":50001,)"
         R"("createdAt":"2026-01-15T10:20:30.123+05:30","refId":"ref-1","data":{)"
         R"("customerId":555000111,"transactionId":900000000123,"billNumber":"B-1",)"
         R"("billAmount":5994.0,"grossAmount":5994.0,"discount":0,"storeCode":"store.1",)"
         R"("tillCode":"till.1","transactionDate":"2026-01-15T10:20:30+05:30","lineItems":[)" +
         items + "]}}";
}

void BM_EnvelopeReadFlat(benchmark::State& state) {
  const std::string payload = transaction_event();
  transforms::EnvelopeReader reader;
  for (auto _ : state) {
    auto env = reader.read(payload);
    benchmark::DoNotOptimize(env);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(payload.size()));
}
BENCHMARK(BM_EnvelopeReadFlat);

// What the stage pays before the transform: `data` stepped over, its validation left to the
// transform that walks it (Check::defer_data).
void BM_EnvelopeReadFlatDeferred(benchmark::State& state) {
  const std::string payload = transaction_event();
  transforms::EnvelopeReader reader;
  for (auto _ : state) {
    auto env = reader.read(payload, transforms::EnvelopeReader::Check::defer_data);
    benchmark::DoNotOptimize(env);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(payload.size()));
}
BENCHMARK(BM_EnvelopeReadFlatDeferred);

void BM_EnvelopeReadWrapped(benchmark::State& state) {
  const std::string payload = R"({"body":)" + transaction_event() + "}";
  transforms::EnvelopeReader reader;
  for (auto _ : state) {
    auto env = reader.read(payload);
    benchmark::DoNotOptimize(env);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(payload.size()));
}
BENCHMARK(BM_EnvelopeReadWrapped);

}  // namespace
