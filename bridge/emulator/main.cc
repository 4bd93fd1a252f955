// platform-emulator: flags -> emulator::Options -> Server::start, then wait for SIGINT/SIGTERM.
// Logs go to stderr; stdout carries only the "listening" line, so scripts can read the URL.

#include <pthread.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "bridge/emulator/control.h"
#include "bridge/emulator/server.h"

namespace {

using bridge::emulator::Options;

bool read_rates(const std::vector<std::string>& flags, std::map<int, double>& out) {
  for (const auto& flag : flags) {
    auto parsed = bridge::emulator::parse_status_rate(flag);
    if (!parsed) {
      std::cerr << "platform-emulator: " << parsed.error().message << "\n";
      return false;
    }
    out[parsed->first] = parsed->second;
  }
  return true;
}

bool read_secret_file(const std::string& path, std::string& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::cerr << "platform-emulator: cannot read the client secret file " << path << "\n";
    return false;
  }
  out.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) {
    out.pop_back();
  }
  return true;
}

// Written once listening; the rename makes the port appear all at once to a poller.
bool write_port_file(const std::string& path, std::uint16_t port) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << port << "\n";
    if (!out.flush()) {
      return false;
    }
  }
  return std::rename(tmp.c_str(), path.c_str()) == 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{
      "platform-emulator: a local Adobe IMS token endpoint and Platform streaming ingestion (DCS) "
      "endpoint with fault injection. Endpoints: POST /ims/token/v3, POST /ims/token, "
      "POST /collection/batch/{inletId}, POST /collection/{inletId}; control API under "
      "/emulator/ (stats, messages, faults, tokens/expire, token_ttl, clear) and GET /healthz."};
  Options options;
  options.listen = "127.0.0.1:8088";
  std::string secret_file;
  std::int64_t token_ttl = options.token_ttl.count();
  bool no_auth = false;
  bool no_keep = false;
  std::vector<std::string> fail;
  std::vector<std::string> message_fail;
  std::string retry_after;
  std::int64_t latency_ms = 0;
  std::int64_t storm_ms = 0;
  std::string dump;
  std::string port_file;
  std::string log_level = "info";

  cli.add_option("--listen", options.listen, "HOST:PORT to listen on (port 0 picks a free port)")
      ->capture_default_str();
  cli.add_option("--client-id", options.client_id, "Client id the token endpoint accepts")
      ->capture_default_str();
  auto* secret = cli.add_option("--client-secret", options.client_secret,
                                "Client secret the token endpoint accepts (default: dev-secret)");
  cli.add_option("--client-secret-file", secret_file,
                 "Read the client secret from this file (trailing newline ignored)")
      ->excludes(secret);
  cli.add_option("--ims-org", options.ims_org_id,
                 "IMS org id (...@AdobeOrg); messages whose header.imsOrgId differs get a 400");
  cli.add_option("--token-ttl", token_ttl, "expires_in of issued tokens, seconds")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  auto* tls_cert = cli.add_option("--tls-cert", options.tls_cert_file,
                                  "Serve HTTPS with this PEM certificate (chain)")
                       ->type_name("FILE");
  auto* tls_key = cli.add_option("--tls-key", options.tls_key_file,
                                 "The PEM private key of --tls-cert (neither: plain HTTP)")
                      ->type_name("FILE");
  tls_cert->needs(tls_key);
  tls_key->needs(tls_cert);
  cli.add_flag("--no-auth", no_auth, "Collection endpoints accept requests without a token");
  cli.add_option("--max-request-bytes", options.max_request_bytes,
                 "Larger collection bodies are answered 413")
      ->capture_default_str()
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 30));
  cli.add_option("--fail", fail,
                 "STATUS=RATE: fail that share of collection requests with STATUS (repeatable), "
                 "e.g. --fail 503=0.2 --fail 429=0.05");
  cli.add_option("--retry-after", retry_after,
                 "Retry-After header value on 429/503 answers (seconds or an HTTP date)");
  cli.add_option("--latency-ms", latency_ms, "Delay before every collection answer")
      ->check(CLI::NonNegativeNumber);
  cli.add_option("--hang-rate", options.faults.hang_rate,
                 "Share of collection requests never answered (held until the client gives up)")
      ->check(CLI::Range(0.0, 1.0));
  cli.add_option("--reset-rate", options.faults.reset_rate,
                 "Share of collection requests whose connection is reset (TCP RST)")
      ->check(CLI::Range(0.0, 1.0));
  cli.add_option("--message-fail", message_fail,
                 "STATUS=RATE: fail that share of otherwise valid messages inside a 207 "
                 "(repeatable), e.g. --message-fail 400=0.01 --message-fail 503=0.001");
  cli.add_option("--reject-request-containing", options.faults.reject_containing,
                 "Answer 400 to every collection request whose body contains TEXT")
      ->type_name("TEXT");
  cli.add_option("--hang-request-containing", options.faults.hang_containing,
                 "Never answer a collection request whose body contains TEXT")
      ->type_name("TEXT");
  cli.add_option("--storm-ms", storm_ms,
                 "Answer every collection request 429 (+Retry-After) for this long after start")
      ->check(CLI::NonNegativeNumber);
  cli.add_option("--seed", options.seed, "RNG seed for fault decisions (0 = random)")
      ->capture_default_str();
  cli.add_flag("--no-keep-messages", no_keep,
               "Count accepted messages without storing them (benchmarks)");
  cli.add_option("--dump", dump, "On exit, write accepted messages to FILE as NDJSON");
  cli.add_option("--port-file", port_file,
                 "Once listening, write the bound port and a newline to FILE (atomically)");
  cli.add_option("--log-level", log_level, "trace, debug, info, warn, error")
      ->capture_default_str();
  CLI11_PARSE(cli, argc, argv);

  auto logger = spdlog::stderr_color_mt("platform-emulator");
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %^%l%$ %v", spdlog::pattern_time_type::utc);
  logger->set_level(spdlog::level::from_str(log_level));
  spdlog::set_default_logger(logger);

  if (!secret_file.empty() && !read_secret_file(secret_file, options.client_secret)) {
    return 2;
  }
  if (!read_rates(fail, options.faults.fail_rate) ||
      !read_rates(message_fail, options.faults.message_fail_rate)) {
    return 2;
  }
  options.token_ttl = std::chrono::seconds(token_ttl);
  options.require_auth = !no_auth;
  options.keep_messages = !no_keep;
  if (!retry_after.empty()) {
    options.faults.retry_after = retry_after;
  }
  options.faults.latency = std::chrono::milliseconds(latency_ms);
  options.faults.storm = std::chrono::milliseconds(storm_ms);

  // Blocked before any server thread exists, so only sigwait below ever sees them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  auto server = bridge::emulator::Server::start(options);
  if (!server) {
    spdlog::critical("{}", server.error().message);
    return 1;
  }
  if (!port_file.empty() && !write_port_file(port_file, (*server)->port())) {
    spdlog::critical("cannot write the port file {}", port_file);
    return 1;
  }
  std::cout << "platform-emulator listening on " << (*server)->base_url() << std::endl;
  spdlog::info("auth {}, TLS {}, max request {} bytes, messages {}",
               options.require_auth ? "on" : "off", options.tls_cert_file.empty() ? "off" : "on",
               options.max_request_bytes, options.keep_messages ? "kept" : "counted only");

  int signal = 0;
  sigwait(&stop_signals, &signal);
  spdlog::info("received {}, stopping", signal == SIGINT ? "SIGINT" : "SIGTERM");

  if (!dump.empty() && !(*server)->dump_ndjson(dump)) {
    server->reset();
    return 1;
  }
  const auto stats = (*server)->stats();
  spdlog::info("stopped: {} collection requests, {} messages accepted ({} unique ids), {} rejected",
               stats.requests, stats.messages_accepted, stats.unique_ids, stats.messages_rejected);
  server->reset();
  return 0;
}
