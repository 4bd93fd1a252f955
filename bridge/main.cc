// capillary-bridge: flags -> one of the app entry points. Nothing else lives here.

#include <malloc.h>

#include <CLI/CLI.hpp>
#include <cstdio>

#include "bridge/app/app.h"
#include "bridge/core/secret.h"
#include "bridge/core/version.h"

int main(int argc, char** argv) {
  // Two malloc arenas instead of glibc's 8 per core: fetch responses are allocated on
  // librdkafka's threads and freed on the pipeline's, and per-thread arenas kept that memory as
  // RSS.
  mallopt(M_ARENA_MAX, 2);
  // A fixed mmap threshold: glibc raises it to the size of each large block freed (librdkafka's
  // fetch responses, up to fetch.max.bytes; request bodies), after which those blocks come from
  // the heap and their freed space stays in RSS until the next trim. Measured at start-up of a
  // 1M backlog: RSS 144 MiB against ~100 MiB live.
  mallopt(M_MMAP_THRESHOLD, 256 * 1024);
  CLI::App cli{
      "capillary-bridge: Capillary loyalty events from Kafka to Adobe Experience Platform"};
  cli.set_version_flag("--version", std::string(bridge::core::version()));
  cli.require_subcommand(1);
  bool allow_core_dumps = false;
  cli.add_flag("--allow-core-dumps", allow_core_dumps,
               "Debugging: leave the process dumpable (core dumps, ptrace); by default it is not, "
               "so a crash or another user cannot read the secrets out of its memory");

  std::string config_path;
  bool with_receiver = false;
  auto* run = cli.add_subcommand("run", "Run the service");
  run->add_option("-c,--config", config_path, "Configuration file (YAML)")->required();
  run->add_flag("--with-receiver", with_receiver,
                "Also run the webhook receiver (config receiver:) in this process");

  auto* receive = cli.add_subcommand(
      "receive", "Receive Capillary webhooks and produce them to Kafka (config receiver:)");
  receive->add_option("-c,--config", config_path, "Configuration file (YAML)")->required();

  auto* validate = cli.add_subcommand("validate", "Check a configuration; list every problem");
  validate->add_option("-c,--config", config_path, "Configuration file (YAML)")->required();
  bool no_plugins = false;
  validate->add_flag("--no-plugins", no_plugins,
                     "Check plugin routes (settings, path rules) without loading their code");

  bridge::app::TransformOptions transform_options;
  auto* transform = cli.add_subcommand(
      "transform", "Run the configured routes over events from a file or stdin; print outputs");
  transform->add_option("-c,--config", transform_options.config_path, "Configuration file (YAML)")
      ->required();
  transform->add_option("input", transform_options.input_path,
                        "Events, one JSON per line (default: stdin)");
  transform->add_option("--topic", transform_options.topic,
                        "Topic the routes see (default: the first of kafka.topics)");

  bridge::app::DevOptions dev_options;
  auto* dev = cli.add_subcommand(
      "dev", "Embedded broker, sample events and the real pipeline; no Kafka or config needed");
  dev->add_option("--output", dev_options.output,
                  "Messages the embedded Platform emulator accepted, NDJSON ('-' for stdout)")
      ->capture_default_str();
  dev->add_option("--emulator-listen", dev_options.emulator_listen,
                  "host:port of the embedded Platform emulator (port 0: any free port)")
      ->capture_default_str();
  dev->add_option("--metrics-listen", dev_options.metrics_listen, "host:port for /metrics")
      ->capture_default_str();
  dev->add_option("--receiver-listen", dev_options.receiver_listen,
                  "host:port of the webhook receiver (port 0: any free port)")
      ->capture_default_str();
  dev->add_flag("--exit-when-done", dev_options.exit_when_done,
                "Exit once every seeded event is delivered or dead-lettered");
  dev->add_option("--partitions", dev_options.partitions, "Partitions of the events topic")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));

  bridge::app::RedriveOptions redrive_options;
  auto* redrive = cli.add_subcommand(
      "redrive",
      "Send dead letters through the current routes and sink again; failures go back to the "
      "dead-letter topic");
  redrive->add_option("-c,--config", redrive_options.config_path, "Configuration file (YAML)")
      ->required();
  redrive->add_option("--reason", redrive_options.reasons,
                      "Only letters dead-lettered for this reason (repeatable)");
  redrive->add_option("--since", redrive_options.since,
                      "Only letters written at or after: 2026-12-04T10:00:00Z, 2026-12-04 or an "
                      "age (30m, 2h, 7d)");
  redrive->add_option("--until", redrive_options.until,
                      "Only letters written at or before (same forms); later ones stay unread");
  redrive->add_option("--topic", redrive_options.topic,
                      "Dead-letter topic to read (default: dead_letter.topic)");
  redrive->add_option("--group", redrive_options.group,
                      "Consumer group that remembers how far redrive got (default: "
                      "<kafka.group_id>.redrive)");
  redrive->add_option("--limit", redrive_options.limit, "Redrive at most this many letters")
      ->check(CLI::PositiveNumber);
  redrive->add_flag("--dry-run", redrive_options.dry_run,
                    "Show what would happen per reason; send, write and commit nothing");
  redrive->add_option("--metrics-listen", redrive_options.metrics_listen,
                      "host:port for /metrics while it runs (default: metrics.listen)");

  bridge::app::PlatformOptions platform_options;
  auto* platform = cli.add_subcommand(
      "platform",
      "Platform's control plane: set up, check or tear down what the bridge streams into");
  platform->require_subcommand(1);
  auto* setup = platform->add_subcommand(
      "setup", "Find or create namespaces, field group, schemas, datasets, inlet and dataflows");
  setup->add_option("-c,--config", platform_options.config_path, "Configuration file (YAML)")
      ->required();
  setup->add_flag("--dry-run", platform_options.dry_run, "Print the plan; change nothing");
  setup->add_option("--output", platform_options.output,
                    "Write the config fragment to this file instead of stdout");
  auto* check = platform->add_subcommand(
      "check", "Read-only preflight: datasets, schemas, dataflows, inlets, tenant fields");
  check->add_option("-c,--config", platform_options.config_path, "Configuration file (YAML)")
      ->required();
  auto* teardown =
      platform->add_subcommand("teardown", "Delete what setup created, in dependency order");
  teardown->add_option("-c,--config", platform_options.config_path, "Configuration file (YAML)")
      ->required();
  teardown->add_flag("--yes", platform_options.yes, "Really delete");

  CLI11_PARSE(cli, argc, argv);
  if (!bridge::core::harden_process(allow_core_dumps)) {
    std::perror("capillary-bridge: prctl(PR_SET_DUMPABLE)");
  }
  if (*platform) {
    platform_options.command = *setup ? "setup" : *check ? "check" : "teardown";
    return bridge::app::platform(platform_options);
  }
  if (*run) {
    return bridge::app::run(config_path, with_receiver);
  }
  if (*receive) {
    return bridge::app::receive(config_path);
  }
  if (*redrive) {
    return bridge::app::redrive(redrive_options);
  }
  if (*validate) {
    return bridge::app::validate(config_path, no_plugins);
  }
  if (*transform) {
    return bridge::app::transform(transform_options);
  }
  return bridge::app::dev(dev_options);
}
