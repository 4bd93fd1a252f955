#include "bench/chaos/scenarios.h"

#include <fmt/format.h>

#include <algorithm>
#include <csignal>
#include <random>

namespace bridge::chaos {
namespace {

using harness::ProduceMessage;
using std::chrono::milliseconds;
using std::chrono::seconds;

// Full mode / quick mode (about ten times fewer events and kills).
int pick(const Run& r, int full, int quick) {
  return r.quick() ? quick : full;
}
milliseconds pick(const Run& r, milliseconds full, milliseconds quick) {
  return r.quick() ? quick : full;
}

// Waits (observing) until the emulator has accepted `target` messages in total, copies
// included; notes it when that does not happen in time.
void until_accepted(Run& r, std::size_t target, const std::string& what) {
  if (!r.observe_until([&] { return r.accepted_lines() >= target; }, seconds(180))) {
    r.note(fmt::format("{}: only {} of {} messages accepted after 180 s", what, r.accepted_lines(),
                       target));
  }
}

// (a) SIGKILL the bridge at random points of a backlog, restart it each time.
void kills(Run& r) {
  const int n = pick(r, 200'000, 20'000);
  const int kills = pick(r, 10, 2);
  r.expect.no_dead_letters = true;
  r.create_topics(6);
  r.produce(r.good_events(n, {.customers = 1000}));
  r.start_emulator();
  r.add_bridge();
  std::uniform_real_distribution<double> jitter(-0.3, 0.3);
  for (int k = 1; k <= kills; ++k) {
    const double at = (k + jitter(r.rng())) / (kills + 1);
    // At least some progress after each restart, so a kill never hits a bridge still joining.
    const std::size_t target =
        std::max(static_cast<std::size_t>(at * n),
                 r.accepted_lines() + static_cast<std::size_t>(n / kills / 4));
    until_accepted(r, target, fmt::format("kill {}", k));
    r.kill_bridge(0);
    r.start_bridge(0);
  }
  (void)r.wait_settled(pick(r, seconds(600), seconds(150)));
}

// (b) Stop the broker twice mid-stream and start it again on the same port.
void broker_restarts(Run& r) {
  const int n = pick(r, 200'000, 20'000);
  const auto down = pick(r, seconds(15), seconds(5));
  r.expect.no_dead_letters = true;
  r.create_topics(6);
  r.produce(r.good_events(n, {.customers = 1000}));
  r.start_emulator();
  // A slower sink, so that the outages land while records are still being delivered.
  const std::int64_t rate = pick(r, 5000, 2000);
  r.add_bridge([&](harness::BridgeConfig& cfg) {
    auto sink = harness::platform_sink_for(r.emulator());
    sink.messages_per_second = rate;
    cfg.sink_yaml = sink.to_yaml();
  });
  for (int k = 1; k <= 2; ++k) {
    until_accepted(r, static_cast<std::size_t>(n) * static_cast<std::size_t>(k) / 3,
                   fmt::format("outage {}", k));
    r.broker_down = true;
    r.broker().stop();
    r.observe_for(down);
    r.broker().restart();
    r.broker_down = false;
  }
  (void)r.wait_settled(pick(r, seconds(600), seconds(150)));
}

// (c) Every emulator fault in turn on a paced stream, then the emulator SIGKILLed for a while.
void emulator_faults(Run& r) {
  const int n = pick(r, 120'000, 20'000);
  const auto phase = pick(r, seconds(20), seconds(5));
  const auto down = pick(r, seconds(30), seconds(10));
  const std::vector<std::string> faults = {
      R"({"fail_rate":{"503":0.2}})",
      R"({"hang_rate":0.05})",
      R"({"reset_rate":0.1})",
      fmt::format(R"({{"storm_ms":{},"retry_after":"1"}})", milliseconds(phase).count()),
      R"({"message_fail_rate":{"429":0.05,"500":0.05,"503":0.05}})",
  };
  r.expect.no_dead_letters = true;  // every injected fault is one to retry
  r.create_topics(6);
  r.start_emulator();
  r.add_bridge();
  r.produce_paced(r.good_events(n, {.customers = 1000}),
                  phase * static_cast<long>(faults.size()) + down);
  for (const auto& f : faults) {
    r.emulator().set_faults(f);
    r.observe_for(phase);
  }
  r.emulator().clear_faults();
  r.kill_emulator_for(down);
  (void)r.wait_settled(pick(r, seconds(600), seconds(180)));
}

// (d) Two instances in one group behind a slow Platform: one SIGKILLed repeatedly, the other
// leaving (SIGTERM) and joining again.
void two_instances(Run& r) {
  const int n = pick(r, 100'000, 20'000);
  const auto span = pick(r, seconds(120), seconds(30));
  const int kills = pick(r, 4, 1);
  const int leaves = pick(r, 3, 1);
  r.expect.no_dead_letters = true;
  r.create_topics(6);
  r.start_emulator({"--latency-ms", "500"});
  r.add_bridge();
  r.add_bridge();
  r.produce_paced(r.good_events(n, {.customers = 1000}), span);
  const int actions = kills + leaves;
  const auto gap = span / (actions + 1);
  for (int a = 0, k = 0, l = 0; a < actions; ++a) {
    r.observe_for(gap);
    if ((a % 2 == 0 && k < kills) || l >= leaves) {
      ++k;
      r.kill_bridge(1);
      r.start_bridge(1);
    } else {
      ++l;
      r.stop_bridge(0);
      r.observe_for(gap / 3);
      r.start_bridge(0);
    }
  }
  (void)r.wait_settled(pick(r, seconds(600), seconds(150)));
  const auto o = r.ledger().outcome();
  r.note(fmt::format("duplicates {:.2f}% of the input ({} kills, {} leave/join)",
                     100.0 * static_cast<double>(o.duplicates) / static_cast<double>(o.input),
                     kills, leaves));
}

// (e) Bad input of every kind mixed into good events; dead letters by reason must equal what
// was injected.
void bad_input(Run& r) {
  const int good = pick(r, 50'000, 5'000);
  const int per_kind = pick(r, 500, 50);
  const int oversized = pick(r, 10, 3);
  r.expect.dead_letters_match_injected = true;
  r.expect.no_good_dead_letters = true;
  r.create_topics(6, {{"max.message.bytes", "4194304"}});
  std::vector<ProduceMessage> messages = r.good_events(good, {.customers = 200});
  std::vector<ProduceMessage> bad;
  const auto base = [&](int i) {
    return harness::make_capillary_event(fmt::format("{}-bad-{}", "chaos", i), 0);
  };
  int i = 0;
  for (int k = 0; k < per_kind; ++k, ++i) {
    bad.push_back(r.bad_record(fmt::format("this is not json #{}", k), "malformed-json"));
  }
  for (int k = 0; k < per_kind; ++k, ++i) {
    const std::string full = base(i);
    bad.push_back(r.bad_record(full.substr(0, full.size() / 2 + static_cast<std::size_t>(k % 20)),
                               "malformed-json"));
  }
  for (int k = 0; k < per_kind; ++k, ++i) {
    std::string e = base(i);
    e.replace(e.find("transactionAdded"), 16, "someUnknownEvent");
    bad.push_back(r.bad_record(std::move(e), "unmapped"));
  }
  for (int k = 0; k < per_kind; ++k, ++i) {
    // Wrong types: a string amount, an array id, an object bill number.
    std::string e = base(i);
    if (k % 3 == 0) {
      const auto at = e.find("\"amount\":") + 9;
      e.replace(at, e.find(',', at) - at, "\"lots\"");
    } else if (k % 3 == 1) {
      const auto at = e.find("\"transactionId\":") + 16;
      e.replace(at, e.find(',', at) - at, "[1,2]");
    } else {
      const auto at = e.find("\"billNumber\":") + 13;
      e.replace(at, e.find(',', at) - at, R"({"a":1})");
    }
    bad.push_back(r.bad_record(std::move(e), "invalid-field"));
  }
  for (int k = 0; k < per_kind; ++k, ++i) {
    std::string e = base(i);
    e.insert(e.find("B-") + 2, k % 2 == 0 ? "\xff\xfe" : "\xc3\x28");
    bad.push_back(r.bad_record(std::move(e), "encoding"));
  }
  for (int k = 0; k < oversized; ++k, ++i) {
    // Valid JSON, a known event, over pipeline.max_event_bytes (1 MiB by default).
    std::string e = base(i);
    e.insert(e.size() - 1, R"(,"padding":")" + std::string(std::size_t{1536} * 1024, 'p') + "\"");
    bad.push_back(r.bad_record(std::move(e), "too-large"));
  }
  // Bad records at random places; the good events keep their order.
  std::vector<std::size_t> at(bad.size());
  std::uniform_int_distribution<std::size_t> where(0, messages.size());
  for (auto& a : at) {
    a = where(r.rng());
  }
  std::sort(at.begin(), at.end());
  std::vector<ProduceMessage> all;
  all.reserve(messages.size() + bad.size());
  for (std::size_t g = 0, b = 0; g <= messages.size(); ++g) {
    while (b < bad.size() && at[b] == g) {
      all.push_back(std::move(bad[b++]));
    }
    if (g < messages.size()) {
      all.push_back(std::move(messages[g]));
    }
  }
  r.produce(all);
  r.start_emulator();
  r.add_bridge();
  (void)r.wait_settled(pick(r, seconds(300), seconds(90)));
}

// (f) A large backlog against a Platform that takes 2 s per request; RSS sampled every second.
void backlog_latency(Run& r) {
  const int n = pick(r, 1'000'000, 100'000);
  r.expect.no_dead_letters = true;
  r.expect.max_rss_mib = 150;
  r.create_topics(6);
  for (int done = 0; done < n; done += 100'000) {
    r.produce(r.good_events(std::min(100'000, n - done), {.customers = 5000}));
  }
  r.start_emulator({"--latency-ms", "2000"});
  r.add_bridge();
  if (!r.wait_settled(pick(r, seconds(3000), seconds(240)))) {
    return;
  }
  const auto st = r.emulator().stats();
  r.note(fmt::format(
      "{} requests, {:.0f} messages per request, {:.0f} events/s at 2 s per request", st.requests,
      st.requests > 0 ? static_cast<double>(st.messages_accepted) / static_cast<double>(st.requests)
                      : 0.0,
      static_cast<double>(n) / *r.settled_after()));
}

// (g1) A 1.23 MB random-bytes record, then 1,000 good ones, with a dead-letter topic at Kafka's
// default max.message.bytes: the dead letter can never be written whole.
void dlq_too_small(Run& r) {
  r.expect.no_good_dead_letters = true;
  r.create_topics(1, {{"max.message.bytes", "2097152"}}, {{{"max.message.bytes", "1048588"}}});
  std::string noise(1'230'000, '\0');
  std::uniform_int_distribution<int> byte(0, 255);
  for (auto& c : noise) {
    c = static_cast<char>(byte(r.rng()));
  }
  r.produce({r.bad_record(std::move(noise), "too-large", 0)});
  r.produce(r.good_events(1000, {.customers = 50, .unkeyed_every = 0}));
  r.start_emulator();
  r.add_bridge();
  (void)r.wait_settled(pick(r, seconds(90), seconds(30)));
}

// (g2) No dead-letter topic at all: the bridge must exit 2 at start, naming the topic (within 20
// s).
void dlq_missing(Run& r) {
  r.expect.exit_code = 2;
  r.create_topics(2, {}, std::nullopt);
  r.produce(r.good_events(100, {.customers = 10}));
  r.produce({r.bad_record("this is not json", "malformed-json")});
  r.start_emulator();
  r.add_bridge();
  const auto st = r.wait_bridge_exit(0, seconds(20));
  if (!st) {
    r.fail("still running 20 s after start; expected exit 2 naming the missing dead-letter topic");
  } else if (!st->exited || st->code != 2) {
    r.fail(fmt::format("expected exit 2, got {}", harness::to_string(*st)));
  }
  if (harness::read_file(r.bridge(0).log_path()).find(r.dlq()) == std::string::npos) {
    r.fail("the log does not name the dead-letter topic " + r.dlq());
  }
}

// (h) Platform answers 500 for every message for a while, then is healthy: an outage, not a
// verdict on the events.
void incident_500(Run& r) {
  const int n = pick(r, 50'000, 10'000);
  r.expect.no_dead_letters = true;
  r.create_topics(6);
  r.produce(r.good_events(n, {.customers = 1000}));
  r.start_emulator({"--message-fail", "500=1"});
  r.add_bridge();
  r.observe_for(pick(r, seconds(90), seconds(20)));
  r.emulator().clear_faults();
  (void)r.wait_settled(pick(r, seconds(600), seconds(120)));
}

// (i) Whole-request 400s on 10% of requests (nothing wrong with any message).
void request_400s(Run& r) {
  const int n = pick(r, 100'000, 20'000);
  r.expect.no_dead_letters = true;
  r.create_topics(6);
  r.produce(r.good_events(n, {.customers = 1000}));
  r.start_emulator({"--fail", "400=0.1"});
  r.add_bridge();
  (void)r.wait_settled(pick(r, seconds(600), seconds(120)));
}

// (j) A proxy in front of Platform with a 1,000-byte body limit (every message is larger) for a
// while, then lifted: an infrastructure fault, not a verdict on the messages.
void body_limit(Run& r) {
  const int n = pick(r, 50'000, 10'000);
  r.expect.no_dead_letters = true;
  r.create_topics(6);
  r.produce(r.good_events(n, {.customers = 1000, .line_items = 1, .description_bytes = 200}));
  r.start_emulator();
  r.emulator().set_faults(R"({"body_limit_bytes":1000})");
  r.add_bridge();
  r.observe_for(pick(r, seconds(30), seconds(10)));
  r.emulator().clear_faults();
  (void)r.wait_settled(pick(r, seconds(600), seconds(120)));
}

}  // namespace

const std::vector<Scenario>& scenarios() {
  static const std::vector<Scenario> all = {
      {"a-kills", "SIGKILL the bridge 10x (quick 2x) during a 200k (20k) backlog", kills},
      {"b-broker", "broker stopped and started twice mid-stream", broker_restarts},
      {"c-emulator", "503s, hangs, resets, 429 storm, per-message 5xx/429, emulator killed",
       emulator_faults},
      {"d-group", "two instances, SIGKILLs and graceful leave/join, 500 ms Platform",
       two_instances},
      {"e-bad-input", "not JSON, truncated, unknown, wrong types, oversized, invalid UTF-8",
       bad_input},
      {"f-backlog", "1M (100k) backlog, 2 s Platform latency, RSS", backlog_latency},
      {"g1-dlq-size", "1.23 MB random record + 1,000 good, DLQ at default max.message.bytes",
       dlq_too_small},
      {"g2-dlq-missing", "no dead-letter topic: exit 2 at start naming it", dlq_missing},
      {"h-500s", "per-message 500 for 90 s (20 s), then healthy", incident_500},
      {"i-400s", "whole-request 400 on 10% of requests", request_400s},
      {"j-body-limit", "1,000-byte proxy body limit for 30 s (10 s), then lifted", body_limit},
  };
  return all;
}

}  // namespace bridge::chaos
