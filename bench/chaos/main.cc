// bridge_chaos: the chaos suite. One real Kafka broker, the real `capillary-bridge run` binary
// (catalogue transform, Platform sink) and the real `platform-emulator` binary, a set of fault
// scenarios, and one table with exact books per scenario. Exit 1 when any check of any scenario
// failed (lost records, last-copy order violations, stuck partitions, the scenario's own
// expectations), 2 on bad flags. See bench/README.md.
//
//   bridge_chaos [--quick] [--scenario NAME[,NAME...]]... [--seed N] [--list]

#include <fmt/format.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "bench/chaos/scenarios.h"

namespace {

using bridge::chaos::Row;

std::string reasons(const bridge::chaos::Outcome& o) {
  if (o.dead_by_reason.empty()) {
    return "0";
  }
  std::string out;
  for (const auto& [reason, n] : o.dead_by_reason) {
    out += fmt::format("{}{} {}", out.empty() ? "" : ", ", reason, n);
  }
  return out;
}

void print_table(const std::vector<Row>& rows, bool quick, std::uint64_t seed, double total_s) {
  std::cout << fmt::format("\nchaos suite ({} run, seed {}), {:.0f} s in total\n\n",
                           quick ? "quick" : "full", seed, total_s);
  std::cout << "| scenario | input | accepted unique | duplicates | dead letters by reason | lost "
               "| order violations first-copy / last-copy | max RSS MiB | wall s | exit codes | "
               "stuck partitions | result |\n"
               "|---|---:|---:|---:|---|---:|---:|---:|---:|---|---:|---|\n";
  for (const Row& r : rows) {
    const auto& o = r.outcome;
    const double dup_share =
        o.input > 0 ? 100.0 * static_cast<double>(o.duplicates) / static_cast<double>(o.input) : 0;
    std::cout << fmt::format(
        "| {} | {} | {} | {} ({:.1f}%) | {} | {} | {} / {} | {:.0f} | {:.0f}{} | {} | {} | {} |\n",
        r.name, o.input, o.accepted_unique, o.duplicates, dup_share, reasons(o), o.lost,
        o.order_first_copy, o.order_last_copy, r.max_rss_mib, r.settle_s,
        r.settled ? "" : " (not settled)", r.exits,
        r.stuck_checked ? std::to_string(r.stuck_partitions) : std::string("-"),
        r.failures.empty() ? "pass" : "FAIL");
  }
  std::cout << "\n";
  for (const Row& r : rows) {
    for (const auto& f : r.failures) {
      std::cout << fmt::format("{}: FAIL: {}\n", r.name, f);
    }
    for (const auto& n : r.notes) {
      std::cout << fmt::format("{}: note: {}\n", r.name, n);
    }
  }
}

bool selected(const std::string& name, const std::vector<std::string>& wanted) {
  if (wanted.empty()) {
    return true;
  }
  const std::string letter = name.substr(0, name.find('-'));
  for (const auto& w : wanted) {
    if (w == name || w == letter || w == name.substr(name.find('-') + 1)) {
      return true;
    }
  }
  return false;
}

int usage(const char* why) {
  std::cerr << why
            << "\nusage: bridge_chaos [--quick] [--scenario NAME[,NAME...]]... [--seed N] "
               "[--list]\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  ::setenv("BRIDGE_SOURCE_DIR", BRIDGE_SOURCE_DIR, 0);
  ::setenv("BRIDGE_BINARY_DIR", BRIDGE_BINARY_DIR, 0);
  bridge::chaos::Options options;
  options.seed = std::random_device{}();
  std::vector<std::string> wanted;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--quick") {
      options.quick = true;
    } else if (arg == "--scenario" && i + 1 < argc) {
      std::string list = argv[++i];
      for (std::size_t pos = 0; pos <= list.size();) {
        const auto comma = std::min(list.find(',', pos), list.size());
        if (comma > pos) {
          wanted.push_back(list.substr(pos, comma - pos));
        }
        pos = comma + 1;
      }
    } else if (arg == "--seed" && i + 1 < argc) {
      options.seed = std::strtoull(argv[++i], nullptr, 10);
    } else if (arg == "--list") {
      for (const auto& s : bridge::chaos::scenarios()) {
        std::cout << fmt::format("{:<16} {}\n", s.name, s.what);
      }
      return 0;
    } else {
      return usage(("unknown argument: " + arg).c_str());
    }
  }
  for (const auto& w : wanted) {
    bool known = false;
    for (const auto& s : bridge::chaos::scenarios()) {
      known = known || selected(s.name, {w});
    }
    if (!known) {
      return usage(("unknown scenario: " + w + " (see --list)").c_str());
    }
  }

  const auto started = std::chrono::steady_clock::now();
  std::vector<Row> rows;
  try {
    bridge::harness::KafkaBroker broker;
    std::cerr << "chaos: starting the Kafka broker\n";
    broker.start();
    for (const auto& s : bridge::chaos::scenarios()) {
      if (!selected(s.name, wanted)) {
        continue;
      }
      std::cerr << fmt::format("chaos: {} ({}) ...\n", s.name, s.what);
      Row row;
      {
        bridge::chaos::Run run(broker, options, s.name);
        try {
          s.body(run);
        } catch (const std::exception& e) {
          run.fail(std::string("scenario aborted: ") + e.what());
        }
        try {
          row = run.finish();
        } catch (const std::exception& e) {
          row.name = s.name;
          row.failures.push_back(std::string("final accounting failed: ") + e.what());
        }
      }
      std::cerr << fmt::format("chaos: {} {} in {:.0f} s (lost {}, last-copy order {}, dead {})\n",
                               row.name, row.failures.empty() ? "passed" : "FAILED", row.total_s,
                               row.outcome.lost, row.outcome.order_last_copy,
                               row.outcome.dead_letters);
      rows.push_back(std::move(row));
    }
  } catch (const std::exception& e) {
    std::cerr << "chaos: " << e.what() << "\n";
    Row row;
    row.name = "(setup)";
    row.failures.push_back(e.what());
    rows.push_back(std::move(row));
  }
  const double total =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  print_table(rows, options.quick, options.seed, total);
  for (const Row& r : rows) {
    if (!r.failures.empty()) {
      return 1;
    }
  }
  return 0;
}
