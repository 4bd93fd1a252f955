#include "bridge/config/config.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <sched.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <initializer_list>
#include <set>
#include <sstream>
#include <string_view>
#include <utility>

namespace bridge::config {
namespace {

using core::Diagnostics;

std::string join(std::initializer_list<std::string_view> items) {
  std::string out;
  for (const auto item : items) {
    if (!out.empty()) {
      out += ", ";
    }
    out += item;
  }
  return out;
}

// Reads a whole file into `out` with read(2): no stream buffer keeps a copy. False with errno
// set when it cannot be read.
bool read_whole_file(const std::string& path, std::string& out) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return false;
  }
  out.clear();
  struct stat st {};
  if (::fstat(fd, &st) == 0 && st.st_size > 0) {
    // Room for all of it at once: growing would free earlier buffers holding part of a secret.
    out.reserve(static_cast<std::size_t>(st.st_size) + 1);
  }
  char chunk[4096];
  bool ok = true;
  while (true) {
    const ssize_t n = ::read(fd, chunk, sizeof chunk);
    if (n > 0) {
      out.append(chunk, static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) {
      continue;
    }
    ok = n == 0;
    break;
  }
  core::wipe(chunk, sizeof chunk);
  const int saved = errno;
  ::close(fd);
  errno = saved;
  return ok;
}

// Levenshtein distance, for "did you mean" (keys are short: a row of ints is enough).
std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) {
    row[j] = j;
  }
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      const std::size_t same = (a[i - 1] == b[j - 1]) ? 0 : 1;
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + same});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// The expected key closest to `key` when it is a plausible typo (at most a third of its letters
// off, and at least one), or empty.
std::string_view closest(std::string_view key, std::initializer_list<std::string_view> keys) {
  std::string_view best;
  std::size_t best_distance = std::max<std::size_t>(1, key.size() / 3) + 1;
  for (const auto candidate : keys) {
    const std::size_t dist = edit_distance(key, candidate);
    if (dist < best_distance) {
      best = candidate;
      best_distance = dist;
    }
  }
  return best;
}

// The environment variables each scalar referenced, by position: a secret read from one is
// scrubbed from the environment once read (Section::secret). Set for the length of a load.
struct EnvRefs {
  std::vector<std::pair<YAML::Mark, std::string>> refs;
  bool scrub = true;
};
thread_local EnvRefs* tls_env_refs = nullptr;

bool same_mark(const YAML::Mark& a, const YAML::Mark& b) {
  return a.pos == b.pos && a.line == b.line && a.column == b.column;
}

// Wipes a scalar's text inside the YAML tree: route settings keep the document's nodes alive
// for the life of the process, secrets must not live on in them.
void wipe_scalar(const YAML::Node& node) {
  if (node.IsDefined() && node.IsScalar()) {
    core::wipe(const_cast<std::string&>(node.Scalar()));
  }
}

// A secret taken out of a scalar, which is wiped; the variables it came from leave the
// environment.
Secret take_secret(const YAML::Node& node) {
  std::string value = node.Scalar();
  wipe_scalar(node);
  if (tls_env_refs != nullptr && tls_env_refs->scrub) {
    for (const auto& [mark, name] : tls_env_refs->refs) {
      if (same_mark(mark, node.Mark())) {
        core::scrub_env(name.c_str());
      }
    }
  }
  return Secret(std::move(value));
}

// Expands ${VAR}, ${VAR:-default} and $$ in one scalar. Returns false (after reporting) on a
// malformed reference or an unset variable without a default.
bool expand_env(std::string_view in, std::string& out, const YAML::Node& node, Diagnostics& d) {
  // The result's pieces first (views of `in` and of the environment), then one reservation and
  // one copy: a growing string would free earlier buffers holding part of a secret, unwiped.
  std::vector<std::string_view> pieces;
  bool ok = true;
  std::size_t literal = 0;  // where the current run of plain text starts
  for (std::size_t i = 0; i + 1 < in.size(); ++i) {
    if (in[i] != '$' || (in[i + 1] != '$' && in[i + 1] != '{')) {
      continue;
    }
    pieces.push_back(in.substr(literal, i - literal));
    if (in[i + 1] == '$') {
      pieces.emplace_back("$");
      literal = ++i + 1;
      continue;
    }
    const std::size_t close = in.find('}', i + 2);
    if (close == std::string_view::npos) {
      d.error(node, fmt::format("unterminated '${{' in value (write $$ for a literal $)"));
      return false;
    }
    const std::string_view ref = in.substr(i + 2, close - i - 2);
    const std::size_t sep = ref.find(":-");
    const std::string name(ref.substr(0, sep));
    const bool valid_name = !name.empty() && std::all_of(name.begin(), name.end(), [](char ch) {
      return ch == '_' || (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
             (ch >= '0' && ch <= '9');
    });
    if (!valid_name) {
      d.error(node, fmt::format("invalid environment reference '${{{}}}'", ref));
      ok = false;
    } else {
      const char* value = std::getenv(name.c_str());
      if (tls_env_refs != nullptr && value != nullptr) {
        tls_env_refs->refs.emplace_back(node.Mark(), name);
      }
      if (sep != std::string_view::npos) {
        pieces.push_back((value != nullptr && *value != '\0') ? std::string_view(value)
                                                              : ref.substr(sep + 2));
      } else if (value != nullptr) {
        pieces.emplace_back(value);
      } else {
        d.error(node, fmt::format("environment variable {} is not set (use ${{{}:-default}} for a "
                                  "default)",
                                  name, name));
        ok = false;
      }
    }
    i = close;
    literal = close + 1;
  }
  pieces.push_back(in.substr(std::min(literal, in.size())));
  std::size_t size = 0;
  for (const std::string_view piece : pieces) {
    size += piece.size();
  }
  out.clear();
  out.reserve(size);
  for (const std::string_view piece : pieces) {
    out.append(piece);
  }
  return ok;
}

// Expands environment references in every scalar of the document, in place (marks survive).
void expand_tree(YAML::Node node, Diagnostics& d) {
  switch (node.Type()) {
    case YAML::NodeType::Scalar: {
      const std::string& raw = node.Scalar();
      if (raw.find('$') == std::string::npos) {
        return;
      }
      std::string expanded;
      if (expand_env(raw, expanded, node, d)) {
        node = expanded;  // keeps the node's mark, by which take_secret finds its variables
      }
      core::wipe(expanded);  // it may hold a secret
      return;
    }
    case YAML::NodeType::Sequence:
      for (auto child : node) {
        expand_tree(child, d);
      }
      return;
    case YAML::NodeType::Map:
      for (auto kv : node) {
        expand_tree(kv.second, d);
      }
      return;
    default:
      return;
  }
}

// A YAML pitfall: in a flow collection (`[...]`, `{...}`) a `{` opens a map, so `[${VAR}]` does
// not parse. When the line of a parse error (or the one before it) holds an unquoted `${` after
// a `[` or `{`, the message says so and gives the fix.
std::string flow_hint(std::string_view text, const YAML::Mark& mark) {
  if (mark.line < 0) {
    return {};
  }
  std::vector<std::string_view> lines;
  for (std::size_t at = 0; at <= text.size();) {
    const std::size_t end = std::min(text.find('\n', at), text.size());
    lines.push_back(text.substr(at, end - at));
    at = end + 1;
  }
  const auto line = static_cast<std::size_t>(mark.line);
  for (std::size_t l = line > 0 ? line - 1 : 0; l <= line && l < lines.size(); ++l) {
    const std::string_view s = lines[l];
    const std::size_t ref = s.find("${");
    const std::size_t open = s.find_first_of("[{");
    if (ref == std::string_view::npos || open == std::string_view::npos || open > ref) {
      continue;
    }
    const std::size_t quote = s.find_last_of("\"'", ref);
    if (quote != std::string_view::npos && quote > open) {
      continue;  // quoted: not this pitfall
    }
    return "; hint: `${VAR}` inside [ ] or { } is read as YAML flow syntax: quote it "
           "([\"${VAR}\"]) or write a block list (- ${VAR})";
  }
  return {};
}

std::string describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Null:
      return "null";
    case YAML::NodeType::Scalar:
      return "a scalar";
    default:
      return "nothing";
  }
}

// Reads one section (a YAML map) with a fixed set of keys. Every accessor reports its own
// problems and leaves the default in place, so one pass finds every problem.
class Section {
 public:
  Section(const YAML::Node& node, std::string path, Diagnostics& d,
          std::initializer_list<std::string_view> keys)
      : node_(node), path_(std::move(path)), d_(d) {
    if (!node_.IsDefined() || node_.IsNull()) {
      return;
    }
    if (!node_.IsMap()) {
      d_.error(node_, fmt::format("{} must be a map, not {}", path_, describe(node_)));
      valid_ = false;
      return;
    }
    std::set<std::string> seen;
    for (const auto& kv : node_) {
      const auto key = kv.first.Scalar();
      if (!seen.insert(key).second) {
        d_.error(kv.first, fmt::format("duplicate key '{}' in {}", key, path_));
      }
      if (std::find(keys.begin(), keys.end(), key) == keys.end()) {
        const auto guess = closest(key, keys);
        d_.error(kv.first,
                 fmt::format("unknown key '{}' in {}{} (expected one of: {})", key,
                             path_.empty() ? "the configuration" : path_,
                             guess.empty() ? "" : fmt::format(": did you mean '{}'?", guess),
                             join(keys)));
      }
    }
  }

  [[nodiscard]] YAML::Node get(std::string_view key) const {
    if (!valid_ || !node_.IsDefined() || !node_.IsMap()) {
      return YAML::Node(YAML::NodeType::Undefined);
    }
    for (const auto& kv : node_) {
      if (kv.first.Scalar() == key) {
        return kv.second;
      }
    }
    return YAML::Node(YAML::NodeType::Undefined);
  }
  [[nodiscard]] bool has(std::string_view key) const {
    const auto n = get(key);
    return n.IsDefined() && !n.IsNull();
  }
  [[nodiscard]] const YAML::Node& node() const { return node_; }
  [[nodiscard]] const std::string& path() const { return path_; }
  [[nodiscard]] std::string at(std::string_view key) const {
    return path_.empty() ? std::string(key) : fmt::format("{}.{}", path_, key);
  }

  bool str(std::string_view key, std::string& out, bool required = false) {
    const auto n = get(key);
    if (!n.IsDefined() || n.IsNull()) {
      if (required) {
        missing(key);
      }
      return false;
    }
    if (!n.IsScalar()) {
      d_.error(n, fmt::format("{} must be a string, not {}", at(key), describe(n)));
      return false;
    }
    out = n.Scalar();
    if (required && out.empty()) {
      d_.error(n, fmt::format("{} must not be empty", at(key)));
      return false;
    }
    return true;
  }

  void one_of(std::string_view key, std::string& out,
              std::initializer_list<std::string_view> allowed) {
    std::string value;
    if (!str(key, value)) {
      return;
    }
    if (std::find(allowed.begin(), allowed.end(), value) == allowed.end()) {
      d_.error(get(key),
               fmt::format("{} must be one of: {} (got '{}')", at(key), join(allowed), value));
      return;
    }
    out = value;
  }

  void boolean(std::string_view key, bool& out) {
    std::string value;
    if (!str(key, value)) {
      return;
    }
    if (value == "true") {
      out = true;
    } else if (value == "false") {
      out = false;
    } else {
      d_.error(get(key), fmt::format("{} must be true or false (got '{}')", at(key), value));
    }
  }

  void integer(std::string_view key, std::int64_t& out, std::int64_t min) {
    std::string value;
    if (!str(key, value)) {
      return;
    }
    std::int64_t v = 0;
    const auto* end = value.data() + value.size();
    const auto [ptr, ec] = std::from_chars(value.data(), end, v);
    if (ec != std::errc() || ptr != end) {
      d_.error(get(key), fmt::format("{} must be an integer (got '{}')", at(key), value));
      return;
    }
    if (v < min) {
      d_.error(get(key), fmt::format("{} must be at least {} (got {})", at(key), min, v));
      return;
    }
    out = v;
  }

  void millis(std::string_view key, std::chrono::milliseconds& out, std::int64_t min = 1) {
    std::int64_t v = out.count();
    integer(key, v, min);
    out = std::chrono::milliseconds(v);
  }

  // A size: an integer number of bytes, or a number with a unit (KB, MB, GB = 1000^n;
  // KiB, MiB, GiB = 1024^n).
  void bytes(std::string_view key, std::int64_t& out, std::int64_t min = 1) {
    std::string value;
    if (!str(key, value)) {
      return;
    }
    std::int64_t v = 0;
    const auto* end = value.data() + value.size();
    auto [ptr, ec] = std::from_chars(value.data(), end, v);
    const std::string_view unit(ptr, static_cast<std::size_t>(end - ptr));
    struct Unit {
      std::string_view name;
      std::int64_t factor;
    };
    static constexpr std::array<Unit, 8> kUnits{{{"", 1},
                                                 {"B", 1},
                                                 {"KB", 1000},
                                                 {"MB", 1000 * 1000},
                                                 {"GB", 1000 * 1000 * 1000},
                                                 {"KiB", 1024},
                                                 {"MiB", 1024 * 1024},
                                                 {"GiB", 1024 * 1024 * 1024}}};
    const auto* u =
        std::find_if(kUnits.begin(), kUnits.end(), [&](const Unit& x) { return x.name == unit; });
    if (ec != std::errc() || ptr == value.data() || u == kUnits.end() ||
        v > std::numeric_limits<std::int64_t>::max() / u->factor) {
      d_.error(get(key),
               fmt::format("{} must be a size such as 1048576, 512KiB or 64MiB (got '{}')", at(key),
                           value));
      return;
    }
    v *= u->factor;
    if (v < min) {
      d_.error(get(key), fmt::format("{} must be at least {} bytes (got {})", at(key), min, v));
      return;
    }
    out = v;
  }

  void strings(std::string_view key, std::vector<std::string>& out) {
    const auto n = get(key);
    if (!n.IsDefined() || n.IsNull()) {
      return;
    }
    if (n.IsScalar()) {
      out = {n.Scalar()};
      return;
    }
    if (!n.IsSequence()) {
      d_.error(n, fmt::format("{} must be a list of strings, not {}", at(key), describe(n)));
      return;
    }
    out.clear();
    for (const auto& item : n) {
      if (!item.IsScalar() || item.Scalar().empty()) {
        d_.error(item, fmt::format("{} entries must be non-empty strings", at(key)));
        continue;
      }
      out.push_back(item.Scalar());
    }
  }

  void string_map(std::string_view key, std::map<std::string, std::string>& out) {
    const auto n = get(key);
    if (!n.IsDefined() || n.IsNull()) {
      return;
    }
    if (!n.IsMap()) {
      d_.error(n, fmt::format("{} must be a map of strings, not {}", at(key), describe(n)));
      return;
    }
    for (const auto& kv : n) {
      if (!kv.second.IsScalar()) {
        d_.error(kv.second, fmt::format("{}.{} must be a string", at(key), kv.first.Scalar()));
        continue;
      }
      out[kv.first.Scalar()] = kv.second.Scalar();
    }
  }

  // `key` inline or `key_file` naming a file whose contents (minus one trailing newline) are
  // the secret. Both at once is an error. The value itself never appears in a message.
  void secret(std::string_view key, Secret& out) {
    const std::string file_key = fmt::format("{}_file", key);
    const bool inline_value = has(key);
    const bool file_value = has(file_key);
    if (inline_value && file_value) {
      d_.error(get(file_key), fmt::format("set either {} or {}, not both", at(key), at(file_key)));
      return;
    }
    if (inline_value) {
      const auto n = get(key);
      if (!n.IsScalar()) {
        d_.error(n, fmt::format("{} must be a string, not {}", at(key), describe(n)));
        return;
      }
      out = take_secret(n);
      return;
    }
    std::string value;
    if (!file_value || !file_text(file_key, value)) {
      core::wipe(value);
      return;
    }
    if (!value.empty() && value.back() == '\n') {
      value.pop_back();
      if (!value.empty() && value.back() == '\r') {
        value.pop_back();
      }
    }
    out = Secret(std::move(value));
  }

  // The whole contents of the file `key` names; an unreadable file is a diagnostic (false).
  bool file_text(std::string_view key, std::string& out) {
    std::string path;
    if (!str(key, path)) {
      return false;
    }
    // Straight into `out`, without stream buffers: the file may hold a secret.
    if (!read_whole_file(path, out)) {
      d_.error(get(key),
               fmt::format("{}: cannot read '{}': {}", at(key), path, std::strerror(errno)));
      return false;
    }
    return true;
  }

  void missing(std::string_view key) {
    if (node_.IsDefined() && !node_.IsNull()) {
      d_.error(node_, fmt::format("{} is required", at(key)));
    } else {
      d_.error(fmt::format("{} is required", at(key)));
    }
  }

  Diagnostics& diagnostics() { return d_; }

 private:
  YAML::Node node_;
  std::string path_;
  Diagnostics& d_;
  bool valid_ = true;
};

void read_security(const YAML::Node& node, KafkaSecurity& s, Diagnostics& d) {
  Section sec(node, "kafka.security", d,
              {"protocol", "sasl_mechanism", "sasl_username", "sasl_password", "sasl_password_file",
               "ssl_ca_location", "ssl_certificate_location", "ssl_key_location",
               "ssl_key_password", "ssl_key_password_file"});
  sec.one_of("protocol", s.protocol, {"PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"});
  sec.one_of("sasl_mechanism", s.sasl_mechanism,
             {"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER", "GSSAPI"});
  sec.str("sasl_username", s.sasl_username);
  sec.secret("sasl_password", s.sasl_password);
  sec.str("ssl_ca_location", s.ssl_ca_location);
  sec.str("ssl_certificate_location", s.ssl_certificate_location);
  sec.str("ssl_key_location", s.ssl_key_location);
  sec.secret("ssl_key_password", s.ssl_key_password);
  const bool sasl = s.protocol == "SASL_PLAINTEXT" || s.protocol == "SASL_SSL";
  if (sasl && s.sasl_mechanism.empty()) {
    sec.missing("sasl_mechanism");
  }
  if (!sasl && (!s.sasl_mechanism.empty() || !s.sasl_username.empty())) {
    d.error(sec.get(s.sasl_mechanism.empty() ? "sasl_username" : "sasl_mechanism"),
            "SASL settings need kafka.security.protocol SASL_PLAINTEXT or SASL_SSL");
  }
}

void read_kafka(const YAML::Node& node, KafkaConfig& k, Diagnostics& d) {
  Section sec(
      node, "kafka", d,
      {"brokers", "group_id", "client_id", "topics", "topic_regex", "prefetch_bytes",
       "auto_offset_reset", "commit_interval_ms", "session_timeout_ms", "security", "properties"});
  if (!node.IsDefined() || node.IsNull()) {
    d.error("kafka is required (at least kafka.brokers and kafka.topics)");
    return;
  }
  sec.str("brokers", k.brokers, true);
  sec.str("group_id", k.group_id);
  sec.str("client_id", k.client_id);
  sec.strings("topics", k.topics);
  sec.str("topic_regex", k.topic_regex);
  if (k.topics.empty() == k.topic_regex.empty()) {
    sec.diagnostics().error(sec.has("topic_regex") ? sec.get("topic_regex") : node,
                            "set exactly one of kafka.topics and kafka.topic_regex");
  }
  if (!k.topic_regex.empty() && k.topic_regex.front() != '^') {
    d.error(sec.get("topic_regex"),
            "kafka.topic_regex must start with '^' (librdkafka treats other names as literal)");
  }
  sec.bytes("prefetch_bytes", k.prefetch_bytes, 1024);
  sec.one_of("auto_offset_reset", k.auto_offset_reset, {"earliest", "latest"});
  sec.millis("commit_interval_ms", k.commit_interval);
  sec.millis("session_timeout_ms", k.session_timeout);
  read_security(sec.get("security"), k.security, d);
  sec.string_map("properties", k.properties);
}

constexpr int kMaxWorkers = 256;

// The cores this process may run on: its CPU affinity, lowered by a cgroup v2 CPU quota
// (`cpu.max`, what a Kubernetes CPU limit becomes), rounded up.
int available_cores() {
  cpu_set_t cpus;
  CPU_ZERO(&cpus);
  int n = sched_getaffinity(0, sizeof(cpus), &cpus) == 0 ? CPU_COUNT(&cpus) : 1;
  std::ifstream in("/sys/fs/cgroup/cpu.max");
  std::string quota;
  std::int64_t period = 0;
  if (in >> quota >> period && quota != "max" && period > 0) {
    std::int64_t q = 0;
    const auto [ptr, ec] = std::from_chars(quota.data(), quota.data() + quota.size(), q);
    if (ec == std::errc() && q > 0) {
      n = static_cast<int>(std::min<std::int64_t>(n, (q + period - 1) / period));
    }
  }
  return n;
}

void read_pipeline(const YAML::Node& node, PipelineConfig& p, Diagnostics& d) {
  Section sec(node, "pipeline", d,
              {"max_inflight_bytes", "max_inflight_records", "max_event_bytes", "drain_timeout_ms",
               "retry_backoff_initial_ms", "retry_backoff_max_ms", "workers"});
  // Transform threads: `auto` (the default) is the cores this process may run on; 0 runs the
  // transforms on the pipeline thread.
  std::string workers = "auto";
  sec.str("workers", workers);
  if (workers == "auto") {
    // One core is kept for the pipeline thread, the sink and librdkafka; below three cores a
    // transform thread costs more in hand-overs than it gains (2 cores, catalogue into Platform:
    // 165k events/s inline, 117k with 1 worker, 138k with 2), so transforms stay inline there.
    const int cores = available_cores();
    p.workers = cores >= 3 ? std::min(cores - 1, kMaxWorkers) : 0;
  } else {
    std::int64_t n = 0;
    sec.integer("workers", n, 0);
    if (n > kMaxWorkers) {
      d.error(sec.get("workers"),
              fmt::format("pipeline.workers must be `auto` or 0..{} (got {})", kMaxWorkers, n));
    }
    p.workers = static_cast<int>(std::min<std::int64_t>(n, kMaxWorkers));
  }
  sec.bytes("max_inflight_bytes", p.max_inflight_bytes, 1024);
  sec.integer("max_inflight_records", p.max_inflight_records, 1);
  sec.bytes("max_event_bytes", p.max_event_bytes, 1);
  sec.millis("drain_timeout_ms", p.drain_timeout, 0);
  sec.millis("retry_backoff_initial_ms", p.retry_backoff_initial);
  sec.millis("retry_backoff_max_ms", p.retry_backoff_max);
  if (p.retry_backoff_max < p.retry_backoff_initial) {
    d.error(sec.has("retry_backoff_max_ms") ? sec.get("retry_backoff_max_ms") : node,
            "pipeline.retry_backoff_max_ms must be >= pipeline.retry_backoff_initial_ms");
  }
}

void read_dead_letter(const YAML::Node& node, DeadLetterConfig& dl, Diagnostics& d) {
  Section sec(node, "dead_letter", d, {"topic", "brokers", "properties"});
  sec.str("topic", dl.topic);
  if (dl.topic.empty()) {
    d.error(sec.get("topic"), "dead_letter.topic must not be empty");
  }
  sec.str("brokers", dl.brokers);
  sec.string_map("properties", dl.properties);
}

void read_targets(const YAML::Node& node, std::vector<transforms::Target>& targets,
                  Diagnostics& d) {
  if (node.IsDefined() && !node.IsNull() && !node.IsMap()) {
    d.error(node, fmt::format("targets must be a map of name -> target, not {}", describe(node)));
  } else if (node.IsMap()) {
    for (const auto& kv : node) {
      const std::string name = kv.first.Scalar();
      if (std::any_of(targets.begin(), targets.end(),
                      [&](const transforms::Target& t) { return t.name == name; })) {
        d.error(kv.first, fmt::format("duplicate target '{}'", name));
        continue;
      }
      transforms::Target t;
      t.name = name;
      Section sec(kv.second, fmt::format("targets.{}", name), d,
                  {"dataset_id", "schema_ref", "content_type", "flow_id", "topic", "inlet"});
      sec.str("dataset_id", t.dataset_id);
      sec.str("schema_ref", t.schema_ref);
      sec.str("content_type", t.content_type);
      sec.str("flow_id", t.flow_id);
      sec.str("topic", t.topic);
      sec.str("inlet", t.inlet);
      targets.push_back(std::move(t));
    }
  }
  if (std::none_of(targets.begin(), targets.end(),
                   [](const transforms::Target& t) { return t.name == "default"; })) {
    transforms::Target t;
    t.name = "default";
    targets.push_back(std::move(t));
  }
}

void read_routes(const YAML::Node& node, std::vector<RouteConfig>& routes, Diagnostics& d) {
  if (!node.IsDefined() || node.IsNull()) {
    d.error("routes is required: at least one route naming a transform");
    return;
  }
  if (!node.IsSequence()) {
    d.error(node, fmt::format("routes must be a list, not {}", describe(node)));
    return;
  }
  if (node.size() == 0) {
    d.error(node, "routes must name at least one route");
  }
  std::size_t index = 0;
  for (const auto& item : node) {
    Section sec(item, fmt::format("routes[{}]", index++), d,
                {"topics", "events", "transform", "settings"});
    if (!item.IsMap()) {
      continue;  // reported by Section
    }
    RouteConfig r;
    r.mark = item.Mark();
    sec.strings("topics", r.topics);
    sec.strings("events", r.events);
    sec.str("transform", r.transform, true);
    r.settings = sec.get("settings");
    routes.push_back(std::move(r));
  }
}

bool is_http_url(std::string_view url) {
  return url.starts_with("https://") || url.starts_with("http://");
}

// Refuses a clear-text URL for Adobe's endpoints unless allowed (see allow_insecure_http).
void check_transport(const YAML::Mark& at, std::string_view key, std::string_view url, bool allowed,
                     Diagnostics& d) {
  if (allowed || !is_insecure_http(url)) {
    return;
  }
  d.error(at, fmt::format("{} is http:// to a host that is not loopback: the access token and "
                          "the events would cross the network in clear text; use https://, or "
                          "set sink.platform.http.allow_insecure_http: true (a private test "
                          "network only)",
                          key));
}

void read_ims(const YAML::Node& node, ImsConfig& ims, bool required, Diagnostics& d) {
  Section sec(node, "sink.platform.ims", d,
              {"token_url", "client_id", "client_secret", "client_secret_file", "scopes",
               "expires_in_unit", "refresh_margin_ms", "timeout_ms"});
  sec.str("token_url", ims.token_url);
  ims.token_url_mark = sec.has("token_url") ? sec.get("token_url").Mark() : node.Mark();
  if (!is_http_url(ims.token_url)) {
    d.error(sec.has("token_url") ? sec.get("token_url") : node,
            fmt::format("sink.platform.ims.token_url must be an http(s) URL (got '{}')",
                        ims.token_url));
  }
  sec.str("client_id", ims.client_id, required);
  const std::size_t problems = d.items().size();
  sec.secret("client_secret", ims.client_secret);
  if (required && ims.client_secret.empty() && d.items().size() == problems) {
    if (sec.has("client_secret") || sec.has("client_secret_file")) {
      d.error(sec.get(sec.has("client_secret") ? "client_secret" : "client_secret_file"),
              "sink.platform.ims.client_secret is empty");
    } else {
      sec.missing("client_secret (or client_secret_file)");
    }
  }
  sec.strings("scopes", ims.scopes);
  sec.one_of("expires_in_unit", ims.expires_in_unit, {"auto", "seconds", "milliseconds"});
  sec.millis("refresh_margin_ms", ims.refresh_margin, 0);
  sec.millis("timeout_ms", ims.timeout);
}

void read_platform(const YAML::Node& node, PlatformSinkConfig& p, bool active, Diagnostics& d) {
  Section sec(node, "sink.platform", d,
              {"inlets", "ims_org_id", "source_name", "ims", "batch", "http", "retry_after_max_ms",
               "message_retry_window_ms", "max_message_retries", "breaker", "rate_limit"});
  const YAML::Node inlets = sec.get("inlets");
  if (inlets.IsDefined() && !inlets.IsNull() && !inlets.IsMap()) {
    d.error(inlets, fmt::format("sink.platform.inlets must be a map of name -> inlet, not {}",
                                describe(inlets)));
  } else if (inlets.IsMap()) {
    for (const auto& kv : inlets) {
      PlatformInlet inlet;
      inlet.name = kv.first.Scalar();
      if (inlet.name == "ims") {
        d.error(kv.first,
                "sink.platform.inlets: 'ims' is reserved (the IMS endpoint's label in "
                "capillary_bridge_platform_tls_*{endpoint}); name the inlet otherwise");
      }
      Section in(kv.second, fmt::format("sink.platform.inlets.{}", inlet.name), d,
                 {"url", "authenticated"});
      if (in.str("url", inlet.url, true) &&
          (!is_http_url(inlet.url) || inlet.url.find("/collection/") == std::string::npos)) {
        d.error(in.get("url"),
                fmt::format("sink.platform.inlets.{}.url must be an inlet URL such as "
                            "https://dcs.adobedc.net/collection/<inletId> (got '{}')",
                            inlet.name, inlet.url));
      }
      in.boolean("authenticated", inlet.authenticated);
      inlet.url_mark = in.get("url").Mark();
      p.inlets.push_back(std::move(inlet));
    }
  }
  if (active && p.inlets.empty()) {
    constexpr std::string_view kNoInlet =
        "sink.platform.inlets must name at least one inlet (the streaming connection URL)";
    if (node.IsDefined() && !node.IsNull()) {
      d.error(node, std::string(kNoInlet));
    } else {
      d.error(std::string(kNoInlet));
    }
  }
  sec.str("ims_org_id", p.ims_org_id);
  sec.str("source_name", p.source_name);
  const bool needs_ims =
      active && std::any_of(p.inlets.begin(), p.inlets.end(),
                            [](const PlatformInlet& i) { return i.authenticated; });
  read_ims(sec.get("ims"), p.ims, needs_ims, d);

  Section batch(sec.get("batch"), "sink.platform.batch", d,
                {"max_bytes", "max_messages", "linger_ms"});
  batch.bytes("max_bytes", p.max_request_bytes, 1024);
  if (p.max_request_bytes > 1024 * 1024) {
    d.error(batch.get("max_bytes"),
            fmt::format("sink.platform.batch.max_bytes must be at most 1MiB, Platform's request "
                        "limit (got {})",
                        p.max_request_bytes));
  }
  batch.integer("max_messages", p.max_messages, 1);
  batch.millis("linger_ms", p.linger, 0);

  Section http(sec.get("http"), "sink.platform.http", d,
               {"concurrency", "connect_timeout_ms", "timeout_ms", "proxy", "tls_verify", "ca_file",
                "http2", "low_speed_limit_bytes", "low_speed_time_ms", "allow_insecure_http"});
  http.boolean("allow_insecure_http", p.allow_insecure_http);
  if (active) {
    for (const PlatformInlet& inlet : p.inlets) {
      check_transport(inlet.url_mark, fmt::format("sink.platform.inlets.{}.url", inlet.name),
                      inlet.url, p.allow_insecure_http, d);
    }
  }
  http.integer("concurrency", p.concurrency, 1);
  http.millis("connect_timeout_ms", p.connect_timeout);
  http.millis("timeout_ms", p.request_timeout);
  http.integer("low_speed_limit_bytes", p.low_speed_limit, 0);
  http.millis("low_speed_time_ms", p.low_speed_time, 1000);
  http.str("proxy", p.proxy);
  http.boolean("tls_verify", p.tls_verify);
  http.str("ca_file", p.ca_file);
  http.boolean("http2", p.http2);

  sec.millis("retry_after_max_ms", p.retry_after_max, 0);
  sec.millis("message_retry_window_ms", p.message_retry_window, 0);
  if (sec.has("max_message_retries")) {
    d.error(sec.get("max_message_retries"),
            "sink.platform.max_message_retries was replaced by message_retry_window_ms (how "
            "long a message Platform answers 500 for is retried; default 900000 = 15 minutes)");
  }
  Section breaker(sec.get("breaker"), "sink.platform.breaker", d,
                  {"window_ms", "min_messages", "max_dead_letter_ratio", "cooldown_ms"});
  breaker.millis("window_ms", p.breaker.window);
  breaker.integer("min_messages", p.breaker.min_messages, 1);
  breaker.millis("cooldown_ms", p.breaker.cooldown);
  if (std::string ratio; breaker.str("max_dead_letter_ratio", ratio)) {
    double v = 0;
    const auto* end = ratio.data() + ratio.size();
    const auto [ptr, ec] = std::from_chars(ratio.data(), end, v);
    if (ec != std::errc() || ptr != end || !(v > 0) || v > 1) {
      d.error(breaker.get("max_dead_letter_ratio"),
              fmt::format("sink.platform.breaker.max_dead_letter_ratio must be a number in "
                          "(0, 1]; 1 turns the breaker off (got '{}')",
                          ratio));
    } else {
      p.breaker.max_dead_letter_ratio = v;
    }
  }
  Section rate(sec.get("rate_limit"), "sink.platform.rate_limit", d,
               {"requests_per_second", "messages_per_second"});
  rate.integer("requests_per_second", p.requests_per_second, 0);
  rate.integer("messages_per_second", p.messages_per_second, 0);
}

void read_sink(const YAML::Node& node, SinkConfig& s, Diagnostics& d) {
  Section sec(node, "sink", d, {"type", "file", "kafka", "platform"});
  std::string type = "stdout";
  sec.one_of("type", type, {"file", "stdout", "kafka", "platform"});
  s.type = type == "file"       ? SinkType::file
           : type == "kafka"    ? SinkType::kafka
           : type == "platform" ? SinkType::platform
                                : SinkType::stdout_;

  Section file(sec.get("file"), "sink.file", d, {"path", "fsync"});
  file.boolean("fsync", s.file.fsync);
  if (s.type == SinkType::file) {
    file.str("path", s.file.path, true);
  } else {
    file.str("path", s.file.path);
  }

  Section kafka(sec.get("kafka"), "sink.kafka", d, {"topic", "brokers", "properties"});
  kafka.str("topic", s.kafka.topic, s.type == SinkType::kafka);
  kafka.str("brokers", s.kafka.brokers);
  kafka.string_map("properties", s.kafka.properties);

  read_platform(sec.get("platform"), s.platform, s.type == SinkType::platform, d);
}

// With the platform sink every target names an inlet that exists (or leaves it to the one
// named "default", or to the only inlet), and carries the ids Platform needs in the header.
void check_platform_targets(const YAML::Node& targets_node, const Config& c, Diagnostics& d) {
  if (c.sink.type != SinkType::platform || c.sink.platform.inlets.empty()) {
    return;
  }
  const auto& inlets = c.sink.platform.inlets;
  for (const auto& t : c.targets) {
    const YAML::Node at =
        targets_node.IsMap() ? targets_node[t.name] : YAML::Node(YAML::NodeType::Undefined);
    if (!at.IsDefined()) {
      continue;  // the implicit `default` target: only passthrough routes use it
    }
    const bool found =
        t.inlet.empty()
            ? inlets.size() == 1 || std::any_of(inlets.begin(), inlets.end(),
                                                [](const auto& i) { return i.name == "default"; })
            : std::any_of(inlets.begin(), inlets.end(),
                          [&](const auto& i) { return i.name == t.inlet; });
    if (!found) {
      d.error(at, t.inlet.empty()
                      ? fmt::format("targets.{} names no inlet and sink.platform.inlets has no "
                                    "inlet named 'default'",
                                    t.name)
                      : fmt::format("targets.{}.inlet '{}' is not in sink.platform.inlets", t.name,
                                    t.inlet));
    }
    if (t.dataset_id.empty() || t.schema_ref.empty()) {
      d.error(at, fmt::format("targets.{} needs dataset_id and schema_ref for the platform sink",
                              t.name));
    }
  }
}

void read_platform_api(const YAML::Node& node, PlatformApiConfig& p, const Config& c,
                       Diagnostics& d) {
  Section sec(node, "platform", d,
              {"api_url", "identity_url", "org_id", "sandbox", "name_prefix", "timeout_ms",
               "max_attempts", "check_at_start"});
  p.present = node.IsDefined() && !node.IsNull();
  sec.str("api_url", p.api_url);
  sec.str("identity_url", p.identity_url);
  if (!is_http_url(p.api_url)) {
    d.error(sec.get("api_url"), "platform.api_url must be an http:// or https:// URL");
  }
  if (!p.identity_url.empty() && !is_http_url(p.identity_url)) {
    d.error(sec.get("identity_url"), "platform.identity_url must be an http:// or https:// URL");
  }
  if (p.present) {
    const bool allowed = c.sink.platform.allow_insecure_http;
    check_transport(sec.get("api_url").Mark(), "platform.api_url", p.api_url, allowed, d);
    check_transport(sec.get("identity_url").Mark(), "platform.identity_url", p.identity_url,
                    allowed, d);
  }
  sec.str("org_id", p.org_id);
  sec.str("sandbox", p.sandbox);
  sec.str("name_prefix", p.name_prefix);
  sec.millis("timeout_ms", p.timeout);
  sec.integer("max_attempts", p.max_attempts, 1);
  sec.one_of("check_at_start", p.check_at_start, {"off", "warn", "fail"});
  if (p.sandbox.empty()) {
    d.error(sec.get("sandbox"), "platform.sandbox must not be empty");
  }
  if (p.name_prefix.empty() || p.name_prefix.find_first_of(",*!") != std::string::npos) {
    d.error(sec.get("name_prefix"),
            "platform.name_prefix must be non-empty, without ',', '*' or '!' (Catalog filters)");
  }
  if (p.identity_url.empty()) {
    p.identity_url = p.api_url;
  }
  if (p.org_id.empty()) {
    p.org_id = c.sink.platform.ims_org_id;
  }
  while (!p.api_url.empty() && p.api_url.back() == '/') {
    p.api_url.pop_back();
  }
  while (!p.identity_url.empty() && p.identity_url.back() == '/') {
    p.identity_url.pop_back();
  }
}

std::string_view trim_space(std::string_view s) {
  const auto first = s.find_first_not_of(" \t\r");
  if (first == std::string_view::npos) {
    return {};
  }
  return s.substr(first, s.find_last_not_of(" \t\r") - first + 1);
}

// host:port (or [IPv6]:port), the port 0-65535; `example_port` goes in the message.
void check_listen(Section& sec, std::string_view key, const std::string& listen, int example_port) {
  const auto colon = listen.rfind(':');
  std::uint32_t port = 0;
  const char* begin = listen.data() + (colon == std::string::npos ? 0 : colon + 1);
  const char* end = listen.data() + listen.size();
  const auto [ptr, ec] = std::from_chars(begin, end, port);
  if (colon == std::string::npos || colon == 0 || ec != std::errc() || ptr != end || port > 65535) {
    sec.diagnostics().error(
        sec.get(key), fmt::format("{} must be host:port, e.g. 0.0.0.0:{} (got '{}')", sec.at(key),
                                  example_port, listen));
  }
}

void read_metrics(const YAML::Node& node, MetricsConfig& m, Diagnostics& d) {
  Section sec(node, "metrics", d, {"listen"});
  if (sec.str("listen", m.listen)) {
    check_listen(sec, "listen", m.listen, 9464);
  }
}

// Accepted tokens: `tokens` (a list; ${ENV} references expanded, empty values dropped so an
// unset `${NEXT_TOKEN:-}` adds nothing) and `tokens_file` (one per line, trimmed; blank lines,
// `#` comment lines and a byte order mark ignored).
void read_tokens(Section& auth, std::vector<Secret>& out) {
  const YAML::Node list = auth.get("tokens");
  if (list.IsDefined() && !list.IsNull()) {
    if (list.IsScalar()) {
      if (!list.Scalar().empty()) {
        out.push_back(take_secret(list));
      }
    } else if (!list.IsSequence()) {
      auth.diagnostics().error(list, fmt::format("{} must be a list of tokens, not {}",
                                                 auth.at("tokens"), describe(list)));
    } else {
      for (const auto& item : list) {
        if (!item.IsScalar()) {
          auth.diagnostics().error(item,
                                   fmt::format("{} entries must be strings", auth.at("tokens")));
        } else if (!item.Scalar().empty()) {
          out.push_back(take_secret(item));
        }
      }
    }
  }
  std::string text;
  if (!auth.file_text("tokens_file", text)) {
    return;
  }
  if (text.starts_with("\xEF\xBB\xBF")) {
    text.erase(0, 3);  // a UTF-8 byte order mark from an editor
  }
  std::string_view rest = text;
  while (!rest.empty()) {
    const std::size_t end = std::min(rest.find('\n'), rest.size());
    const std::string_view token = trim_space(rest.substr(0, end));
    rest.remove_prefix(std::min(end + 1, rest.size()));
    if (!token.empty() && token.front() != '#') {  // '#' starts a comment line
      out.emplace_back(std::string(token));
    }
  }
  core::wipe(text);
}

void read_receiver(const YAML::Node& node, ReceiverConfig& r, const KafkaConfig& kafka,
                   Diagnostics& d) {
  Section sec(node, "receiver", d,
              {"listen", "topic", "key", "brokers", "properties", "produce_timeout_ms",
               "retry_after_s", "shutdown_timeout_ms", "tls", "limits", "paths"});
  r.present = node.IsDefined() && !node.IsNull();
  if (!r.present) {
    return;
  }
  if (sec.str("listen", r.listen)) {
    check_listen(sec, "listen", r.listen, 8080);
  }
  sec.str("topic", r.topic);
  std::string key = "customer";
  sec.one_of("key", key, {"customer", "event-id", "none"});
  r.key = key == "event-id" ? ReceiverKey::event_id
          : key == "none"   ? ReceiverKey::none
                            : ReceiverKey::customer;
  sec.str("brokers", r.brokers);
  sec.string_map("properties", r.properties);
  for (const char* fixed : {"acks", "request.required.acks", "enable.idempotence",
                            "message.timeout.ms", "allow.auto.create.topics"}) {
    if (r.properties.contains(fixed)) {
      d.error(sec.get("properties"),
              fmt::format("receiver.properties.{} is set by the receiver (acks=all, idempotence, "
                          "message.timeout.ms = produce_timeout_ms, no topic auto-creation)",
                          fixed));
    }
  }
  sec.millis("produce_timeout_ms", r.produce_timeout, 100);
  sec.integer("retry_after_s", r.retry_after_s, 1);
  sec.millis("shutdown_timeout_ms", r.shutdown_timeout, 0);

  Section tls(sec.get("tls"), "receiver.tls", d, {"cert_file", "key_file"});
  tls.str("cert_file", r.tls_cert_file);
  tls.str("key_file", r.tls_key_file);
  if (r.tls_cert_file.empty() != r.tls_key_file.empty()) {
    d.error(sec.get("tls"), "receiver.tls needs both cert_file and key_file (PEM), or neither");
  }

  Section limits(sec.get("limits"), "receiver.limits", d,
                 {"max_body_bytes", "max_header_bytes", "max_connections",
                  "max_concurrent_requests", "read_timeout_ms"});
  limits.bytes("max_body_bytes", r.max_body_bytes, 1);
  limits.bytes("max_header_bytes", r.max_header_bytes, 1024);
  limits.integer("max_connections", r.max_connections, 1);
  limits.integer("max_concurrent_requests", r.max_concurrent_requests, 1);
  limits.millis("read_timeout_ms", r.read_timeout, 1000);
  if (r.max_body_bytes > std::int64_t{64} * 1024 * 1024) {
    d.error(limits.get("max_body_bytes"),
            fmt::format("receiver.limits.max_body_bytes must be at most 64MiB (got {})",
                        r.max_body_bytes));
  }

  if (r.topic.empty() && !kafka.topics.empty()) {
    r.topic = kafka.topics.front();
  }
  const YAML::Node paths = sec.get("paths");
  if (!paths.IsDefined() || paths.IsNull()) {
    sec.missing("paths (at least one path with its auth)");
  } else if (!paths.IsSequence()) {
    d.error(paths, fmt::format("receiver.paths must be a list, not {}", describe(paths)));
  } else {
    std::size_t index = 0;
    for (const auto& item : paths) {
      const std::string at = fmt::format("receiver.paths[{}]", index++);
      Section p(item, at, d, {"path", "topic", "auth"});
      if (!item.IsMap()) {
        continue;
      }
      ReceiverPath rp;
      rp.mark = item.Mark();
      if (p.str("path", rp.path, true)) {
        const std::string_view path = rp.path;
        const auto brace = path.find('{');
        const bool templated = path.ends_with("/{orgId}");
        if (!path.starts_with('/') || path.find_first_of("?# ") != std::string_view::npos ||
            (brace != std::string_view::npos && (!templated || brace != path.size() - 7))) {
          d.error(p.get("path"), fmt::format("{}.path must start with '/' and may end in "
                                             "'/{{orgId}}', nothing else templated (got '{}')",
                                             at, rp.path));
        }
        for (const auto& other : r.paths) {
          if (other.path == rp.path) {
            d.error(p.get("path"), fmt::format("{}.path '{}' is listed twice", at, rp.path));
          }
        }
      }
      p.str("topic", rp.topic);
      if (rp.topic.empty()) {
        rp.topic = r.topic;
      }
      if (rp.topic.empty()) {
        d.error(item, fmt::format("{} has no topic: set receiver.topic (kafka.topic_regex names "
                                  "no topic to default to)",
                                  at));
      }
      Section auth(p.get("auth"), at + ".auth", d, {"header", "prefix", "tokens", "tokens_file"});
      if (!p.has("auth")) {
        p.missing("auth (every path needs a secret header: tokens or tokens_file)");
      } else {
        auth.str("header", rp.auth.header);
        if (rp.auth.header.empty() || rp.auth.header.find_first_of(" :\t") != std::string::npos) {
          d.error(auth.get("header"), fmt::format("{}.auth.header must be a header name", at));
        }
        if (!auth.has("prefix")) {
          rp.auth.prefix =
              strcasecmp(rp.auth.header.c_str(), "Authorization") == 0 ? "Bearer " : "";
        } else {
          auth.str("prefix", rp.auth.prefix);
        }
        const std::size_t problems = d.items().size();
        read_tokens(auth, rp.auth.tokens);
        if (rp.auth.tokens.empty() && d.items().size() == problems) {
          d.error(p.get("auth"), fmt::format("{}.auth accepts no token: set tokens or tokens_file "
                                             "(an empty value, e.g. an unset ${{VAR:-}}, counts "
                                             "as none)",
                                             at));
        }
      }
      r.paths.push_back(std::move(rp));
    }
    if (paths.size() == 0) {
      d.error(paths, "receiver.paths must name at least one path");
    }
  }
  if (r.brokers.empty()) {
    r.brokers = kafka.brokers;
  }
}

void read_log(const YAML::Node& node, LogConfig& l, Diagnostics& d) {
  Section sec(node, "log", d, {"level", "format"});
  sec.one_of("level", l.level, {"trace", "debug", "info", "warn", "error"});
  sec.one_of("format", l.format, {"text", "json"});
}

}  // namespace

Loaded load_string(const std::string& yaml_text, const std::string& file, Scope scope,
                   bool scrub_secret_env) {
  EnvRefs env_refs;
  env_refs.scrub = scrub_secret_env;
  tls_env_refs = &env_refs;
  struct Reset {
    ~Reset() { tls_env_refs = nullptr; }
  } reset;
  Loaded out{Config{}, core::Diagnostics(file)};
  auto& d = out.diagnostics;
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    d.error(e.mark, fmt::format("invalid YAML: {}{}", e.msg, flow_hint(yaml_text, e.mark)));
    return out;
  }
  if (!root.IsDefined() || root.IsNull()) {
    d.error("the configuration is empty");
    return out;
  }
  if (!root.IsMap()) {
    d.error(root, fmt::format("the configuration must be a map, not {}", describe(root)));
    return out;
  }
  // Problems of the sections a `transforms` load does not need land here and are not reported.
  core::Diagnostics unneeded(file);
  Diagnostics& rest = scope == Scope::transforms ? unneeded : d;
  try {
    for (auto kv : root) {
      const std::string& key = kv.first.Scalar();
      expand_tree(kv.second, key == "targets" || key == "routes" || key == "plugin_dir" ? d : rest);
    }
    Section top(root, "", d,
                {"kafka", "pipeline", "dead_letter", "targets", "routes", "sink", "platform",
                 "receiver", "metrics", "log", "plugin_dir"});
    Config& c = out.config;
    if (top.str("plugin_dir", c.plugin_dir) && !c.plugin_dir.starts_with('/')) {
      d.error(top.get("plugin_dir"),
              fmt::format("plugin_dir must be an absolute directory (got '{}')", c.plugin_dir));
    }
    read_kafka(top.get("kafka"), c.kafka, rest);
    read_pipeline(top.get("pipeline"), c.pipeline, rest);
    read_dead_letter(top.get("dead_letter"), c.dead_letter, rest);
    read_targets(top.get("targets"), c.targets, d);
    read_routes(top.get("routes"), c.routes, d);
    read_sink(top.get("sink"), c.sink, rest);
    check_platform_targets(top.get("targets"), c, rest);
    read_platform_api(top.get("platform"), c.platform, c, rest);
    if (ims_used(c)) {
      check_transport(c.sink.platform.ims.token_url_mark, "sink.platform.ims.token_url",
                      c.sink.platform.ims.token_url, c.sink.platform.allow_insecure_http, rest);
    }
    read_receiver(top.get("receiver"), c.receiver, c.kafka, rest);
    read_metrics(top.get("metrics"), c.metrics, rest);
    read_log(top.get("log"), c.log, rest);
    if (c.dead_letter.brokers.empty()) {
      c.dead_letter.brokers = c.kafka.brokers;
    }
    if (c.sink.kafka.brokers.empty()) {
      c.sink.kafka.brokers = c.kafka.brokers;
    }
  } catch (const YAML::Exception& e) {
    // Not expected (every access above checks types first); never let it escape.
    d.error(e.mark, fmt::format("configuration error: {}", e.msg));
  }
  return out;
}

bool ims_used(const Config& c) {
  const auto& inlets = c.sink.platform.inlets;
  return c.platform.present ||
         (c.sink.type == SinkType::platform &&
          std::any_of(inlets.begin(), inlets.end(),
                      [](const PlatformInlet& i) { return i.authenticated; }));
}

bool is_insecure_http(std::string_view url) {
  if (url.size() < 7 || strncasecmp(url.data(), "http://", 7) != 0) {
    return false;
  }
  std::string_view authority = url.substr(7);
  authority = authority.substr(0, authority.find_first_of("/?#"));
  if (const auto at = authority.rfind('@'); at != std::string_view::npos) {
    authority = authority.substr(at + 1);
  }
  std::string host;
  if (authority.starts_with('[')) {
    host = std::string(authority.substr(1, authority.find(']') - 1));
    in6_addr v6{};
    return !(inet_pton(AF_INET6, host.c_str(), &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6));
  }
  host = std::string(authority.substr(0, authority.find(':')));
  if (strcasecmp(host.c_str(), "localhost") == 0) {
    return false;
  }
  in_addr v4{};
  return !(inet_pton(AF_INET, host.c_str(), &v4) == 1 &&
           (ntohl(v4.s_addr) >> 24) == 127);  // 127.0.0.0/8
}

std::vector<std::string> insecure_endpoints(const Config& c) {
  std::vector<std::string> out;
  if (c.sink.type == SinkType::platform) {
    for (const auto& inlet : c.sink.platform.inlets) {
      if (is_insecure_http(inlet.url)) {
        out.push_back(fmt::format("inlet {}", inlet.name));
      }
    }
  }
  if (ims_used(c) && is_insecure_http(c.sink.platform.ims.token_url)) {
    out.emplace_back("ims");
  }
  if (c.platform.present &&
      (is_insecure_http(c.platform.api_url) || is_insecure_http(c.platform.identity_url))) {
    out.emplace_back("platform api");
  }
  return out;
}

Loaded load_file(const std::string& path, Scope scope, bool scrub_secret_env) {
  std::string text;
  if (!read_whole_file(path, text)) {
    Loaded out{Config{}, core::Diagnostics(path)};
    out.diagnostics.error(fmt::format("cannot read the configuration: {}", std::strerror(errno)));
    return out;
  }
  Loaded out = load_string(text, path, scope, scrub_secret_env);
  core::wipe(text);  // the file may hold secrets inline
  return out;
}

}  // namespace bridge::config
