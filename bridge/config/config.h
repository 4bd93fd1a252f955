#pragma once
// The bridge's configuration: one YAML file (see config/bridge.example.yaml). Loading expands
// ${ENV} and ${ENV:-default} inside scalar values, resolves `*_file` secret indirection, rejects
// unknown keys, and reports every problem with file:line:column in one pass.

#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bridge/core/diagnostics.h"
#include "bridge/core/secret.h"
#include "transforms/api/transform.h"

namespace bridge::config {

// A secret value: move-only, wiped when it goes (bridge/core/secret.h). A Config holding one is
// move-only too: there is one copy of each secret, in the Config the process runs with.
using Secret = core::Secret;

struct KafkaSecurity {
  std::string protocol;  // security.protocol: PLAINTEXT | SSL | SASL_PLAINTEXT | SASL_SSL
  std::string
      sasl_mechanism;  // sasl.mechanisms: PLAIN | SCRAM-SHA-256 | SCRAM-SHA-512 | OAUTHBEARER
  std::string sasl_username;
  Secret sasl_password;                  // or sasl_password_file
  std::string ssl_ca_location;           // ssl.ca.location
  std::string ssl_certificate_location;  // ssl.certificate.location
  std::string ssl_key_location;          // ssl.key.location
  Secret ssl_key_password;               // or ssl_key_password_file
};

struct KafkaConfig {
  std::string brokers;  // bootstrap.servers (required)
  std::string group_id = "capillary-bridge";
  std::string client_id = "capillary-bridge";
  std::vector<std::string> topics;  // exactly one of topics / topic_regex
  std::string topic_regex;          // librdkafka regex subscription, e.g. "^capillary\\..*"
  // -> queued.max.messages.kbytes: librdkafka's read-ahead (payload bytes; it holds about a third
  // more). With fetch.queue.backoff.ms at 10 ms, 8, 16 and 32 MiB all gave ~125k events/s
  // (1 KB events, 6 partitions, bench/e2e_bench, Platform sink).
  std::int64_t prefetch_bytes = 16 * 1024 * 1024;  // README "Memory": peak RSS from config
  std::string auto_offset_reset = "earliest";      // earliest | latest
  std::chrono::milliseconds commit_interval{1000};
  std::chrono::milliseconds session_timeout{45000};
  KafkaSecurity security;
  // Extra librdkafka properties passed through verbatim (consumer and producers).
  std::map<std::string, std::string> properties;
};

struct PipelineConfig {
  std::int64_t max_inflight_bytes = 40 * 1024 * 1024;  // pause partitions above this
  std::int64_t max_inflight_records = 100000;
  std::int64_t max_event_bytes = 1024 * 1024;  // larger payloads are dead-lettered (too-large)
  std::chrono::milliseconds drain_timeout{30000};
  std::chrono::milliseconds retry_backoff_initial{100};
  std::chrono::milliseconds retry_backoff_max{10000};
  // Transform threads. 0: transforms run on the pipeline thread (what tests of the pipeline's
  // bookkeeping use). The config file's default is the cores available (`workers: auto`).
  int workers = 0;
};

struct DeadLetterConfig {
  std::string topic = "capillary-bridge.dlq";  // required to exist on the cluster
  std::string brokers;                         // defaults to kafka.brokers
  std::map<std::string, std::string> properties;
};

struct RouteConfig {
  std::vector<std::string> topics;  // empty = any topic
  std::vector<std::string> events;  // empty = any event name
  std::string transform;            // registered factory name
  YAML::Node settings;              // handed to the factory, which validates it
  YAML::Mark mark;                  // where the route was declared, for diagnostics
};

enum class SinkType { file, stdout_, kafka, platform };

struct FileSinkConfig {
  std::string path;    // NDJSON, appended
  bool fsync = false;  // fsync before acknowledging (survives power loss, slower)
};

struct KafkaSinkConfig {
  std::string topic;    // default outbound topic (a target's `topic` overrides it)
  std::string brokers;  // defaults to kafka.brokers
  std::map<std::string, std::string> properties;
};

// Adobe IMS OAuth server-to-server (client credentials), reference/platform-streaming.md section 2.
struct ImsConfig {
  std::string token_url = "https://ims-na1.adobelogin.com/ims/token/v3";
  YAML::Mark token_url_mark;  // where it was set (for the transport check)
  std::string client_id;
  Secret client_secret;  // or client_secret_file
  std::vector<std::string> scopes = {"openid", "AdobeID", "read_organizations",
                                     "additional_info.projectedProductContext", "session"};
  // Unit of `expires_in`: auto (v3 paths: seconds; /ims/token and v1: milliseconds; otherwise
  // values above 10^6 are milliseconds) | seconds | milliseconds.
  std::string expires_in_unit = "auto";
  // Refresh this long before expiry (at most a fifth of the token's lifetime before it), and
  // never later than 23 h after issue.
  std::chrono::milliseconds refresh_margin{5 * 60 * 1000};
  std::chrono::milliseconds timeout{10000};  // one token request
};

// One streaming connection. `url` is the inlet URL (…/collection/{inletId}); the batch endpoint
// is derived by inserting /batch/ after /collection/.
struct PlatformInlet {
  std::string name;
  std::string url;
  bool authenticated = true;  // send Authorization: Bearer (authenticated connections only)
  YAML::Mark url_mark;        // where `url` was set (for the transport check)
};

struct PlatformSinkConfig {
  std::vector<PlatformInlet> inlets;
  std::string ims_org_id;                        // header.imsOrgId (optional)
  std::string source_name = "capillary-bridge";  // header.source.name
  ImsConfig ims;
  // A request body never exceeds this (Platform answers 413 above 1 MB).
  std::int64_t max_request_bytes = 1000 * 1000;
  std::int64_t max_messages = 500;
  std::chrono::milliseconds linger{20};  // wait this long for a fuller batch
  std::int64_t concurrency = 8;          // requests in flight
  std::chrono::milliseconds connect_timeout{5000};
  // Whole request, connect included. Platform answers a batch in well under a second; 30 s
  // leaves room for a slow network while a hung request gives its partitions back in time.
  std::chrono::milliseconds request_timeout{30000};
  // A request moving fewer than low_speed_limit bytes/s for low_speed_time is abandoned (a
  // stalled connection), whatever is left of request_timeout.
  std::int64_t low_speed_limit = 1;
  std::chrono::milliseconds low_speed_time{15000};
  std::string proxy;  // libcurl proxy URL; "" = libcurl's environment (https_proxy, no_proxy)
  bool tls_verify = true;
  std::string ca_file;  // extra CA bundle
  bool http2 = true;    // negotiate HTTP/2 over TLS when the server offers it
  // http:// to a host that is not loopback (inlets, IMS, the control plane) is refused unless
  // this is set; when it is used, /readyz and capillary_bridge_insecure_http say so.
  bool allow_insecure_http = false;
  std::chrono::milliseconds retry_after_max{60000};  // Retry-After above this is capped
  // A message Platform keeps answering 500 for is retried for this long from its first 500,
  // then dead-lettered (platform-failed); 429/503 ("come back later") are retried without limit.
  std::chrono::milliseconds message_retry_window{15 * 60 * 1000};
  // The dead-letter circuit breaker (bridge/platform/breaker.h), per inlet.
  struct Breaker {
    std::chrono::milliseconds window{60000};
    std::int64_t min_messages = 100;
    double max_dead_letter_ratio = 0.5;
    std::chrono::milliseconds cooldown{30000};
  } breaker;
  // Client-side limits per inlet; defaults are Platform's documented guardrails (section 1.10).
  std::int64_t requests_per_second = 1000;
  std::int64_t messages_per_second = 10000;
};

struct SinkConfig {
  SinkType type = SinkType::stdout_;
  FileSinkConfig file;
  KafkaSinkConfig kafka;
  PlatformSinkConfig platform;
};

// Platform's control plane, for `capillary-bridge platform setup | teardown`
// (../shared/reference/platform-provisioning.md). Credentials: sink.platform.ims, one token source
// for both planes.
struct PlatformApiConfig {
  bool present = false;  // the `platform:` block is in the file
  std::string api_url = "https://platform.adobe.io";
  // Identity Service host; docs use regional hosts (https://platform-va7.adobe.io). "" = api_url.
  std::string identity_url;
  std::string org_id;            // x-gw-ims-org-id; "" = sink.platform.ims_org_id
  std::string sandbox = "prod";  // x-sandbox-name
  // Names and titles of everything setup creates start with this; teardown deletes only those.
  std::string name_prefix = "capillary-bridge";
  std::chrono::milliseconds timeout{30000};  // one call
  std::int64_t max_attempts = 5;             // 429/5xx are retried up to this many calls
  // `run` checks datasets, dataflows and inlets (`platform check` without the sample outputs)
  // before it starts: off | warn (log each problem, run anyway) | fail (exit 2 on a problem).
  std::string check_at_start = "off";
};

// The webhook receiver (`capillary-bridge receive`, bridge/receiver): Capillary's Event
// Notification Service POSTs events here; each is produced to Kafka (acks=all, idempotent) and
// answered 200 only once the broker has it.
struct ReceiverAuth {
  std::string header = "Authorization";
  std::string prefix = "Bearer ";  // default "" for any header other than Authorization
  std::vector<Secret> tokens;      // every accepted value (several at once: rotation)
};

struct ReceiverPath {
  std::string path;   // "/capillary/events", or ending in "/{orgId}"
  std::string topic;  // "" = ReceiverConfig::topic
  ReceiverAuth auth;
  YAML::Mark mark;
};

enum class ReceiverKey { customer, event_id, none };

struct ReceiverConfig {
  bool present = false;  // the `receiver:` block is in the file
  std::string listen = "0.0.0.0:8080";
  std::string topic;  // "" = the first of kafka.topics
  // customer: "orgId:customerId" (the eventId when the event names no customer); event-id; none
  // (no key: librdkafka's partitioner spreads the events, no order).
  ReceiverKey key = ReceiverKey::customer;
  std::string brokers;  // defaults to kafka.brokers; kafka.security applies
  std::map<std::string, std::string> properties;
  // The answer's deadline for the broker's acknowledgement (message.timeout.ms): 503 after it.
  std::chrono::milliseconds produce_timeout{10000};
  std::int64_t retry_after_s = 5;  // Retry-After on a 503
  std::chrono::milliseconds shutdown_timeout{15000};
  std::string tls_cert_file;  // PEM; both or neither
  std::string tls_key_file;
  std::int64_t max_body_bytes = 1024 * 1024;
  std::int64_t max_header_bytes = 16 * 1024;
  std::int64_t max_connections = 512;
  std::int64_t max_concurrent_requests = 256;
  // A request (headers and body) must arrive within this; a connection idle this long is closed.
  std::chrono::milliseconds read_timeout{10000};
  std::vector<ReceiverPath> paths;
};

struct MetricsConfig {
  std::string listen = "127.0.0.1:9464";  // host:port for /metrics, /healthz, /readyz
};

struct LogConfig {
  std::string level = "info";   // trace | debug | info | warn | error
  std::string format = "text";  // text | json
};

struct Config {
  KafkaConfig kafka;
  PipelineConfig pipeline;
  DeadLetterConfig dead_letter;
  std::vector<transforms::Target> targets;  // always contains a target named "default"
  std::vector<RouteConfig> routes;          // first match wins
  SinkConfig sink;
  PlatformApiConfig platform;
  ReceiverConfig receiver;
  MetricsConfig metrics;
  LogConfig log;
  // `transform: plugin` routes load shared objects only from under this absolute directory
  // (transforms/plugin/README.md); empty: no plugin may be loaded.
  std::string plugin_dir;
};

struct Loaded {
  Config config;
  core::Diagnostics diagnostics;  // empty when the config is valid
};

// What the command loading a configuration needs of it. `transforms`: only `targets` and
// `routes` must be right (`transform` runs no consumer and no sink), so an unset variable or a
// problem anywhere else (a sink secret, the dev broker) is not reported; the YAML syntax and
// unknown top-level keys still are. The other sections are read as far as they can be (the default
// topic, the message header fields).
enum class Scope { all, transforms };

// Whether IMS is asked for tokens: an authenticated inlet of the platform sink, or the control
// plane (`platform:`).
[[nodiscard]] bool ims_used(const Config& c);
// True for an http:// URL whose host is not loopback (localhost, 127.0.0.0/8, [::1]).
[[nodiscard]] bool is_insecure_http(std::string_view url);
// The Adobe endpoints of `c` that such a URL points at ("inlet NAME", "ims", "platform api"):
// what allow_insecure_http let through.
[[nodiscard]] std::vector<std::string> insecure_endpoints(const Config& c);

// Parses YAML text. `file` names the source in diagnostics. Never throws.
//
// Secrets: each is held once, in a core::Secret; the YAML scalar it came from, the file's text
// and an expanded ${VAR} are wiped. An environment variable a secret was read from is wiped and
// removed (`scrub_secret_env`; `dev`, which loads twice, keeps it for the first load). yaml-cpp's
// own freed copies of an inline secret are not wiped (config/README.md).
Loaded load_string(const std::string& yaml_text, const std::string& file, Scope scope = Scope::all,
                   bool scrub_secret_env = true);
// Reads and parses a file. An unreadable file is a diagnostic, not an exception.
Loaded load_file(const std::string& path, Scope scope = Scope::all, bool scrub_secret_env = true);

}  // namespace bridge::config
