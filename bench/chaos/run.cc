#include "bench/chaos/run.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <csignal>
#include <iostream>
#include <stdexcept>

namespace bridge::chaos {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

std::string describe(const harness::ExitStatus& st) {
  return harness::to_string(st);
}

}  // namespace

Run::Run(harness::KafkaBroker& broker, const Options& options, std::string name)
    : broker_(broker),
      options_(options),
      rng_(options.seed),
      dir_("capillary-chaos-" + name),
      feed_([this](std::string_view line) {
        ++accepted_lines_;
        ledger_.on_accepted(line);
      }),
      created_(Clock::now()) {
  row_.name = std::move(name);
  const std::string suffix = fmt::format("{:08x}", static_cast<std::uint32_t>(rng_()));
  topic_ = fmt::format("chaos.{}.{}", row_.name, suffix);
  dlq_ = topic_ + ".dlq";
  group_ = topic_ + ".group";
}

Run::~Run() {
  if (producer_.joinable()) {
    producer_.join();
  }
  // Processes still running are SIGKILLed by their destructors.
}

void Run::create_topics(int partitions, const std::map<std::string, std::string>& events_config,
                        const std::optional<std::map<std::string, std::string>>& dlq_config) {
  partitions_ = partitions;
  broker_.create_topic(topic_, partitions, events_config);
  dlq_exists_ = dlq_config.has_value();
  if (dlq_exists_) {
    broker_.create_topic(dlq_, 1, *dlq_config);
  }
}

std::vector<harness::ProduceMessage> Run::good_events(int n, const EventShape& shape) {
  std::vector<harness::ProduceMessage> out;
  out.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i, ++next_good_) {
    const auto customer = static_cast<std::uint32_t>(next_good_ % shape.customers);
    const std::uint32_t seq = next_seq_[customer]++;
    const std::string id = fmt::format("{}-{:07}", row_.name, next_good_);
    ledger_.add_good(id, customer, seq);
    harness::ProduceMessage m;
    m.value =
        harness::make_capillary_event(id, customer, shape.line_items, shape.description_bytes);
    if (shape.unkeyed_every > 0 &&
        static_cast<int>(customer) % shape.unkeyed_every == shape.unkeyed_every - 1) {
      // No Kafka key: the ordering key is the customer the transform resolves. One partition per
      // customer, so "earlier" is well defined.
      m.partition = static_cast<std::int32_t>(customer % static_cast<std::uint32_t>(partitions_));
    } else {
      m.key = fmt::format("cust-{}", customer);
    }
    out.push_back(std::move(m));
  }
  return out;
}

harness::ProduceMessage Run::bad_record(std::string value, const std::string& reason,
                                        std::int32_t partition) {
  harness::ProduceMessage m;
  m.key = fmt::format("bad-{:05}", next_bad_++);
  m.value = std::move(value);
  m.partition = partition;
  ledger_.add_bad(m.key, reason);
  return m;
}

void Run::produce(const std::vector<harness::ProduceMessage>& messages) {
  broker_.produce(topic_, messages, std::chrono::minutes(10));
}

void Run::produce_paced(std::vector<harness::ProduceMessage> messages, milliseconds span) {
  if (producer_.joinable()) {
    producer_.join();
  }
  producing_ = true;
  producer_ = std::thread([this, messages = std::move(messages), span] {
    constexpr milliseconds kTick{100};
    const std::size_t ticks = std::max<std::size_t>(1, static_cast<std::size_t>(span / kTick));
    const std::size_t per_tick = (messages.size() + ticks - 1) / ticks;
    const auto start = Clock::now();
    try {
      for (std::size_t i = 0, tick = 0; i < messages.size(); ++tick) {
        const std::size_t end = std::min(messages.size(), i + per_tick);
        broker_.produce(topic_, {messages.begin() + static_cast<std::ptrdiff_t>(i),
                                 messages.begin() + static_cast<std::ptrdiff_t>(end)});
        i = end;
        std::this_thread::sleep_until(start + kTick * static_cast<long>(tick + 1));
      }
    } catch (const std::exception& e) {
      producer_error_ = e.what();
    }
    producing_ = false;
  });
}

bool Run::producing() const {
  return producing_.load();
}

harness::EmulatorProcess& Run::start_emulator(std::vector<std::string> args) {
  emulator_ = std::make_unique<harness::EmulatorProcess>(
      dir_, harness::EmulatorOptions{.name = "emulator", .args = std::move(args)});
  emulator_->start();
  return *emulator_;
}

void Run::kill_emulator_for(milliseconds down) {
  // Hold every new request so that nothing is accepted after the last read, wait for the
  // requests already being answered, read, kill.
  emulator_->set_faults(R"({"hang_rate":1})");
  std::uint64_t before = emulator_->stats().messages_accepted;
  for (int i = 0; i < 20; ++i) {
    std::this_thread::sleep_for(milliseconds(250));
    const std::uint64_t now = emulator_->stats().messages_accepted;
    if (now == before) {
      break;
    }
    before = now;
  }
  observe();
  const std::size_t read = feed_.read_in_life();
  emulator_->kill(SIGKILL);
  (void)emulator_->wait(seconds(10));
  if (read < before) {
    fail(fmt::format("read {} accepted messages of the emulator's {} before killing it", read,
                     before));
  }
  emulator_down_ = true;
  observe_for(down);
  emulator_->start();
  feed_.new_life();
  emulator_down_ = false;
}

std::size_t Run::add_bridge(const std::function<void(harness::BridgeConfig&)>& tune) {
  harness::BridgeConfig cfg;
  cfg.brokers = broker_.bootstrap();
  cfg.group_id = group_;
  cfg.client_id = fmt::format("chaos-{}-{}", row_.name, bridges_.size());
  cfg.topics = {topic_};
  cfg.dlq_topic = dlq_;
  cfg.sink_path = dir_.file(fmt::format("sink-{}.ndjson", bridges_.size()));
  cfg.targets_and_routes_yaml = harness::capillary_routes_yaml({topic_});
  cfg.sink_yaml = harness::platform_sink_for(*emulator_).to_yaml();
  if (tune) {
    tune(cfg);
  }
  const std::size_t i = bridges_.size();
  bridges_.push_back(
      {std::make_unique<harness::BridgeProcess>(dir_, fmt::format("bridge-{}", i), cfg), false});
  start_bridge(i);
  return i;
}

void Run::start_bridge(std::size_t i) {
  bridges_[i].process->start();
  bridges_[i].expected_running = true;
  if (!first_start_) {
    first_start_ = Clock::now();
  }
}

void Run::reap(Instance& b, const std::optional<harness::ExitStatus>& status, const char* how) {
  b.expected_running = false;
  if (status) {
    exits_.add(*status);
  } else {
    exits_.add(fmt::format("no-exit({})", how));
  }
}

void Run::kill_bridge(std::size_t i) {
  Instance& b = bridges_[i];
  b.process->kill(SIGKILL);
  reap(b, b.process->wait(seconds(30)), "SIGKILL");
}

void Run::stop_bridge(std::size_t i) {
  Instance& b = bridges_[i];
  const auto st = b.process->stop(seconds(60));
  reap(b, st, "SIGTERM");
  if (!st) {
    fail(fmt::format("bridge-{} did not exit within 60 s of SIGTERM", i));
  } else if (!st->exited || st->code != 0) {
    fail(fmt::format("bridge-{} SIGTERM: {}", i, describe(*st)));
  }
}

std::optional<harness::ExitStatus> Run::wait_bridge_exit(std::size_t i, milliseconds timeout) {
  Instance& b = bridges_[i];
  (void)observe_until([&] { return !b.process->running(); }, timeout);
  if (b.process->running()) {
    return std::nullopt;
  }
  auto st = b.process->wait(milliseconds(0));
  if (b.expected_running) {  // else observe() has booked the exit already
    reap(b, st, "exit");
  }
  return st;
}

bool Run::any_bridge_running() {
  for (auto& b : bridges_) {
    if (b.process->running()) {
      return true;
    }
  }
  return false;
}

void Run::read_dead_letters() {
  const auto hw = broker_.high_watermarks(dlq_);
  std::int64_t total = 0;
  for (const auto& [p, high] : hw) {
    total += high;
  }
  if (total <= dead_total_) {
    return;
  }
  for (const auto& letter : broker_.consume_all(dlq_)) {
    auto& next = dead_read_[letter.partition];
    if (letter.offset < next) {
      continue;  // read by an earlier observation (the topic is read from the start)
    }
    next = letter.offset + 1;
    ledger_.on_dead_letter(letter);
  }
  dead_total_ = total;
}

void Run::observe() {
  if (emulator_ && !emulator_down_) {
    (void)feed_.poll(emulator_->port());
  }
  if (dlq_exists_ && !broker_down) {
    try {
      read_dead_letters();
    } catch (const std::exception& e) {
      note(fmt::format("reading the dead-letter topic failed once: {}", e.what()));
    }
  }
  for (std::size_t i = 0; i < bridges_.size(); ++i) {
    Instance& b = bridges_[i];
    if (b.expected_running && !b.process->running()) {
      const auto st = b.process->wait(milliseconds(0));
      reap(b, st, "exit");
      if (!expect.exit_code) {
        fail(fmt::format("bridge-{} exited on its own: {}", i,
                         st ? describe(*st) : std::string("?")));
      }
    }
  }
}

bool Run::observe_until(const std::function<bool()>& done, milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    observe();
    if (done()) {
      return true;
    }
    if (Clock::now() >= deadline) {
      return false;
    }
    std::this_thread::sleep_for(milliseconds(500));
  }
}

bool Run::wait_settled(milliseconds timeout) {
  (void)observe_until(
      [this] { return ledger_.settled() >= ledger_.records() || !any_bridge_running(); }, timeout);
  if (ledger_.settled() < ledger_.records() || !first_start_) {
    return false;
  }
  settled_after_ = seconds_since(*first_start_);
  return true;
}

Row Run::finish() {
  if (producer_.joinable()) {
    producer_.join();
  }
  if (!producer_error_.empty()) {
    fail("producing failed: " + producer_error_);
  }
  if (broker_down) {
    broker_.restart();  // the scenario was aborted during an outage
    broker_down = false;
  }
  if (settled_after_ && !expect.exit_code && any_bridge_running()) {
    // Everything is delivered: give the commits a fair moment to reach the high watermarks
    // (a stuck partition never gets there; a slow commit interval does).
    const auto hw = broker_.high_watermarks(topic_);
    const bool committed = observe_until(
        [&] {
          const auto at = broker_.committed_offsets(group_, topic_);
          for (const auto& [p, high] : hw) {
            const auto it = at.find(p);
            if (high > 0 && (it == at.end() || it->second < high)) {
              return false;
            }
          }
          return true;
        },
        seconds(30));
    if (!committed) {
      note("commits short of the high watermarks 30 s after everything was delivered");
    }
  }
  for (std::size_t i = 0; i < bridges_.size(); ++i) {
    if (bridges_[i].expected_running) {
      stop_bridge(i);
    }
  }
  observe();
  rss_.sample();

  Row& row = row_;
  row.outcome = ledger_.outcome();
  const Outcome& o = row.outcome;
  row.settled = settled_after_.has_value();
  row.settle_s = settled_after_.value_or(first_start_ ? seconds_since(*first_start_) : 0.0);
  row.max_rss_mib = static_cast<double>(rss_.max_kib()) / 1024.0;
  row.exits = exits_.str();

  if (!expect.exit_code) {
    const auto hw = broker_.high_watermarks(topic_);
    const auto committed = broker_.committed_offsets(group_, topic_);
    for (const auto& [p, high] : hw) {
      const auto it = committed.find(p);
      const std::int64_t at = it == committed.end() ? -1 : it->second;
      if (high > 0 && at < high) {
        ++row.stuck_partitions;
        note(fmt::format("partition {} committed at {} of {}", p,
                         at < 0 ? std::string("(none)") : std::to_string(at), high));
      }
    }
    if (o.lost > 0) {
      fail(fmt::format("{} record(s) lost (neither accepted nor dead-lettered), e.g. {}", o.lost,
                       fmt::join(o.lost_examples, ", ")));
    }
    if (row.stuck_partitions > 0) {
      fail(fmt::format("{} partition(s) stuck: committed offset short of the high watermark",
                       row.stuck_partitions));
    }
  } else {
    row.stuck_checked = false;
  }
  if (o.order_last_copy > 0) {
    fail(
        fmt::format("{} per-customer order violation(s) taking each message's last arrival, "
                    "e.g. {}",
                    o.order_last_copy, fmt::join(o.order_examples, "; ")));
  }
  if (o.both > 0) {
    fail(fmt::format("{} event(s) both accepted and dead-lettered", o.both));
  }
  if (o.foreign > 0) {
    fail(fmt::format("{} accepted message(s) that are not a good event of this scenario",
                     o.foreign));
  }
  if (o.unknown_dead > 0) {
    fail(fmt::format("{} dead letter(s) that are neither a good event nor an injected record",
                     o.unknown_dead));
  }
  if (o.bad_misfiled > 0) {
    fail(fmt::format("{} bad record(s) dead-lettered with the wrong reason: {}", o.bad_misfiled,
                     fmt::join(o.misfiled_examples, "; ")));
  }
  if (expect.no_dead_letters && o.dead_letters > 0) {
    fail(fmt::format("{} dead letter(s), expected none: {}", o.dead_letters, o.dead_by_reason));
  }
  if (expect.no_good_dead_letters && o.good_dead > 0) {
    fail(fmt::format("{} good event(s) dead-lettered", o.good_dead));
  }
  if (expect.dead_letters_match_injected && o.dead_by_reason != o.injected_by_reason) {
    fail(fmt::format("dead letters by reason {} differ from the injected {}", o.dead_by_reason,
                     o.injected_by_reason));
  }
  if (expect.max_duplicate_share && o.input > 0 &&
      static_cast<double>(o.duplicates) / static_cast<double>(o.input) >
          *expect.max_duplicate_share) {
    fail(fmt::format("duplicates {:.1f}% of the input, expected at most {:.1f}%",
                     100.0 * static_cast<double>(o.duplicates) / static_cast<double>(o.input),
                     100.0 * *expect.max_duplicate_share));
  }
  if (expect.max_rss_mib && row.max_rss_mib > *expect.max_rss_mib) {
    fail(fmt::format("peak RSS {:.0f} MiB over {:.0f} MiB", row.max_rss_mib, *expect.max_rss_mib));
  }
  if (rss_.samples() == 0) {
    fail("no RSS sample was taken");
  }
  row.total_s = seconds_since(created_);
  return row;
}

}  // namespace bridge::chaos
