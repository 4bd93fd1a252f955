#include "transforms/plugin/plugin.h"

#include <dlfcn.h>
#include <fmt/format.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <simdjson.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <filesystem>
#include <optional>
#include <set>
#include <utility>

#include "transforms/plugin/capillary_bridge_plugin.h"

namespace transforms::plugin {
namespace {

using bridge::core::Diagnostics;
using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

constexpr int kMaxDepth = 64;
constexpr std::size_t kErrorBytes = 512;       // create()'s error buffer
constexpr std::size_t kMaxReasonBytes = 64;    // reject() reason codes
constexpr std::size_t kMaxMessageBytes = 512;  // reject() messages, cut beyond
constexpr std::array kKinds = {OutputKind::profile, OutputKind::experience_event, OutputKind::raw};

// ---- YAML to JSON -------------------------------------------------------------------------------

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// Skips one leading sign; returns the position after it.
std::size_t skip_sign(std::string_view text) {
  return !text.empty() && (text[0] == '+' || text[0] == '-') ? 1 : 0;
}

// YAML 1.2 core schema: [-+]?[0-9]+
bool is_core_int(std::string_view text) {
  const std::string_view digits = text.substr(skip_sign(text));
  return !digits.empty() && std::all_of(digits.begin(), digits.end(), is_digit);
}

// YAML 1.2 core schema: [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?
bool is_core_float(std::string_view text) {
  std::size_t i = skip_sign(text);
  const auto digits = [&] {
    const std::size_t start = i;
    while (i < text.size() && is_digit(text[i])) {
      ++i;
    }
    return i > start;
  };
  const bool whole = digits();
  bool fraction = false;
  if (i < text.size() && text[i] == '.') {
    ++i;
    fraction = digits();
  }
  if (!whole && !fraction) {
    return false;
  }
  if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
    ++i;
    i += skip_sign(text.substr(i));
    if (!digits()) {
      return false;
    }
  }
  return i == text.size();
}

template <typename T>
bool parse_whole(std::string_view text, T& value) {
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  return ec == std::errc() && ptr == end;
}

void write_scalar(const YAML::Node& node, JsonWriter& out) {
  const std::string& text = node.Scalar();
  // Only plain scalars are typed; quoted or tagged ones (`"1"`, `!!str 1`) stay strings.
  if (node.Tag() == "?") {
    if (text == "true" || text == "True" || text == "TRUE") {
      out.Bool(true);
      return;
    }
    if (text == "false" || text == "False" || text == "FALSE") {
      out.Bool(false);
      return;
    }
    // from_chars takes a '-' but not a '+'.
    const std::string_view number =
        std::string_view(text).substr(!text.empty() && text[0] == '+' ? 1 : 0);
    if (is_core_int(text)) {
      std::int64_t signed_value = 0;
      std::uint64_t unsigned_value = 0;
      if (parse_whole(number, signed_value)) {
        out.Int64(signed_value);
        return;
      }
      if (parse_whole(number, unsigned_value)) {
        out.Uint64(unsigned_value);
        return;
      }
    } else if (is_core_float(text)) {
      double value = 0;
      if (parse_whole(number, value) && std::isfinite(value)) {
        out.Double(value);
        return;
      }
    }
  }
  out.String(text.data(), static_cast<rapidjson::SizeType>(text.size()), true);
}

// Writes `node` whatever happens (so the writer stays balanced); returns false after reporting.
bool write_node(const YAML::Node& node, JsonWriter& out, Diagnostics& diags, int depth) {
  if (depth > kMaxDepth) {
    diags.error(node, fmt::format("plugin: settings nest deeper than {} levels", kMaxDepth));
    out.Null();
    return false;
  }
  bool ok = true;
  switch (node.Type()) {
    case YAML::NodeType::Scalar:
      write_scalar(node, out);
      break;
    case YAML::NodeType::Sequence:
      out.StartArray();
      for (const auto& item : node) {
        ok = write_node(item, out, diags, depth + 1) && ok;
      }
      out.EndArray();
      break;
    case YAML::NodeType::Map: {
      std::set<std::string, std::less<>> seen;
      out.StartObject();
      for (const auto& entry : node) {
        const YAML::Node& key = entry.first;
        if (!key.IsScalar()) {
          diags.error(key, "plugin: settings keys must be strings");
          ok = false;
          continue;
        }
        const std::string& name = key.Scalar();
        if (!seen.insert(name).second) {
          diags.error(key, fmt::format("plugin: duplicate settings key '{}'", name));
          ok = false;
          continue;
        }
        out.Key(name.data(), static_cast<rapidjson::SizeType>(name.size()), true);
        ok = write_node(entry.second, out, diags, depth + 1) && ok;
      }
      out.EndObject();
      break;
    }
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      out.Null();
      break;
  }
  return ok;
}

// ---- loading ------------------------------------------------------------------------------------

// A loaded plugin. Its library is never dlclose()d: unloading code that may have registered
// thread-locals or atexit handlers is a classic crash at exit, and plugins load once at startup.
struct Library {
  std::string name;  // the plugin's own name, for messages
  const cb_plugin* api = nullptr;
};

struct HandleCloser {
  void operator()(void* handle) const { dlclose(handle); }
};

bool inside(const std::filesystem::path& dir, const std::filesystem::path& file) {
  const auto [d, f] = std::mismatch(dir.begin(), dir.end(), file.begin(), file.end());
  return d == dir.end() && f != file.end();
}

// Refuses a file or directory others than its owner may write: they could swap the code the
// bridge runs. Returns false (after reporting) when `path` is group- or world-writable.
bool not_writable_by_others(const std::filesystem::path& path, std::string_view what,
                            const std::string& shown, const YAML::Node& at, Diagnostics& diags) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    diags.error(at,
                fmt::format("plugin: cannot check '{}': {}", path.string(), std::strerror(errno)));
    return false;
  }
  if (st.st_uid != 0 && st.st_uid != ::geteuid()) {
    diags.error(at, fmt::format("plugin: '{}': {} '{}' belongs to uid {}, neither root nor the "
                                "bridge's user: its owner could replace the code the bridge runs",
                                shown, what, path.string(), st.st_uid));
    return false;
  }
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    diags.error(
        at, fmt::format("plugin: '{}': {} '{}' is {}-writable (mode {:04o}): others could "
                        "replace the code the bridge runs; chmod go-w it",
                        shown, what, path.string(), (st.st_mode & S_IWOTH) != 0 ? "world" : "group",
                        st.st_mode & 07777U));
    return false;
  }
  return true;
}

// Plugins load only from under `plugin_dir`: `path` must be absolute and inside it, still inside
// it once symbolic links are resolved, a regular file, and neither it nor a directory from it up
// to plugin_dir writable by group or world. Returns the resolved file, or nullopt (reported).
std::optional<std::string> checked_path(const std::string& path, const BuildOptions& options,
                                        const YAML::Node& at, Diagnostics& diags) {
  namespace fs = std::filesystem;
  if (options.plugin_dir.empty()) {
    diags.error(at, fmt::format("plugin: '{}': no plugin_dir is configured; set the top-level "
                                "`plugin_dir:` to the absolute directory plugins load from",
                                path));
    return std::nullopt;
  }
  const fs::path given(path);
  if (!given.is_absolute()) {
    diags.error(at, fmt::format("plugin: `path` must be absolute, under plugin_dir {} (got '{}')",
                                options.plugin_dir, path));
    return std::nullopt;
  }
  fs::path dir = fs::path(options.plugin_dir).lexically_normal();
  if (!dir.has_filename()) {
    dir = dir.parent_path();  // "/opt/plugins/" iterates to a last, empty element
  }
  if (!inside(dir, given.lexically_normal())) {
    diags.error(at,
                fmt::format("plugin: '{}' is not under plugin_dir {}", path, options.plugin_dir));
    return std::nullopt;
  }
  std::error_code ec;
  const fs::path real_dir = fs::canonical(dir, ec);
  if (ec) {
    diags.error(at, fmt::format("plugin: plugin_dir {}: {}", options.plugin_dir, ec.message()));
    return std::nullopt;
  }
  const fs::path real = fs::canonical(given, ec);
  if (ec) {
    diags.error(at, fmt::format("plugin: cannot load '{}': {}", path, ec.message()));
    return std::nullopt;
  }
  if (!inside(real_dir, real)) {
    diags.error(at, fmt::format("plugin: '{}' resolves to '{}', outside plugin_dir {}", path,
                                real.string(), options.plugin_dir));
    return std::nullopt;
  }
  if (!fs::is_regular_file(real, ec)) {
    diags.error(at, fmt::format("plugin: '{}' is not a regular file", path));
    return std::nullopt;
  }
  bool ok = not_writable_by_others(real, "the file", path, at, diags);
  for (fs::path d = real.parent_path(); ok; d = d.parent_path()) {
    ok = not_writable_by_others(d, "the directory", path, at, diags);
    if (d == real_dir || !inside(real_dir, d)) {
      break;
    }
  }
  if (!ok) {
    return std::nullopt;
  }
  return real.string();
}

std::shared_ptr<const Library> load(const std::string& path, const std::string& file,
                                    const YAML::Node& at, Diagnostics& diags) {
  dlerror();
  // Closed again on every failure below; kept open for the process once accepted.
  std::unique_ptr<void, HandleCloser> handle(dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL));
  if (!handle) {
    const char* why = dlerror();
    diags.error(at, fmt::format("plugin: cannot load '{}': {}", path,
                                why != nullptr ? why : "unknown dlopen error"));
    return nullptr;
  }
  void* symbol = dlsym(handle.get(), CB_PLUGIN_ENTRY_SYMBOL);
  if (symbol == nullptr) {
    diags.error(at, fmt::format("plugin: '{}' does not export `{}`: it is not a capillary-bridge "
                                "plugin (see transforms/plugin/README.md)",
                                path, CB_PLUGIN_ENTRY_SYMBOL));
    return nullptr;
  }
  const auto entry = reinterpret_cast<cb_plugin_entry_fn>(symbol);
  const cb_plugin* api = nullptr;
  try {
    api = entry();
  } catch (...) {
    api = nullptr;
  }
  if (api == nullptr) {
    diags.error(at, fmt::format("plugin: '{}': {}() returned no plugin table", path,
                                CB_PLUGIN_ENTRY_SYMBOL));
    return nullptr;
  }
  if (api->abi_version != CB_PLUGIN_ABI_VERSION) {
    diags.error(at, fmt::format("plugin: '{}' was built for plugin ABI version {}, but this "
                                "capillary-bridge implements version {}; rebuild the plugin "
                                "against this bridge's capillary_bridge_plugin.h",
                                path, api->abi_version, CB_PLUGIN_ABI_VERSION));
    return nullptr;
  }
  if (api->name == nullptr || api->name[0] == '\0' || api->create == nullptr ||
      api->apply == nullptr || api->destroy == nullptr) {
    diags.error(at, fmt::format("plugin: '{}': its cb_plugin table lacks a name, create, apply "
                                "or destroy",
                                path));
    return nullptr;
  }
  static_cast<void>(handle.release());
  return std::make_shared<const Library>(Library{api->name, api});
}

// Calls create() once to let the plugin check its settings, then destroys that instance.
bool probe(const Library& library, const std::string& json, const YAML::Mark& at,
           Diagnostics& diags) {
  std::array<char, kErrorBytes> err{};
  void* instance = nullptr;
  try {
    instance = library.api->create(json.c_str(), json.size(), err.data(), err.size());
  } catch (...) {
    diags.error(at, fmt::format("plugin '{}': create() threw an exception; plugins must not "
                                "throw across the C ABI",
                                library.name));
    return false;
  }
  if (instance == nullptr) {
    err.back() = '\0';
    diags.error(at, fmt::format("plugin '{}': invalid settings: {}", library.name,
                                err[0] != '\0' ? err.data() : "create() failed without a message"));
    return false;
  }
  try {
    library.api->destroy(instance);
  } catch (...) {
    diags.error(at, fmt::format("plugin '{}': destroy() threw an exception; plugins must not "
                                "throw across the C ABI",
                                library.name));
    return false;
  }
  return true;
}

// ---- the transform ------------------------------------------------------------------------------

std::size_t index_of(OutputKind kind) {
  return static_cast<std::size_t>(kind);
}

std::optional<OutputKind> kind_from_abi(int kind) {
  switch (kind) {
    case CB_KIND_PROFILE:
      return OutputKind::profile;
    case CB_KIND_EXPERIENCE_EVENT:
      return OutputKind::experience_event;
    case CB_KIND_RAW:
      return OutputKind::raw;
    default:
      return std::nullopt;
  }
}

// [a-z0-9][a-z0-9-]{0,63}
bool valid_reason(const char* reason) {
  if (reason == nullptr) {
    return false;
  }
  const std::string_view text(reason, strnlen(reason, kMaxReasonBytes + 1));
  const auto allowed = [](char c) { return (c >= 'a' && c <= 'z') || is_digit(c) || c == '-'; };
  return !text.empty() && text.size() <= kMaxReasonBytes && text[0] != '-' &&
         std::all_of(text.begin(), text.end(), allowed);
}

// At most kMaxMessageBytes of `message`, not cutting a UTF-8 sequence in two.
std::string_view cut_message(const char* message) {
  if (message == nullptr) {
    return {};
  }
  std::size_t size = strnlen(message, kMaxMessageBytes + 1);
  if (size > kMaxMessageBytes) {
    size = kMaxMessageBytes;
    while (size > 0 && (static_cast<unsigned char>(message[size]) & 0xC0U) == 0x80U) {
      --size;
    }
  }
  return {message, size};
}

cb_str to_abi(std::string_view text) {
  return {text.empty() ? "" : text.data(), text.size()};
}

struct Config {
  std::shared_ptr<const Library> library;
  std::string settings_json;
  std::array<const Target*, kKinds.size()> targets{};  // by index_of(OutputKind)
};

class PluginTransform final : public Transform {
 public:
  // Takes ownership of `instance` (from the plugin's create()).
  PluginTransform(std::shared_ptr<const Config> config, void* instance)
      : config_(std::move(config)), api_(*config_->library->api), instance_(instance) {}

  ~PluginTransform() override {
    try {
      api_.destroy(instance_);
    } catch (...) {  // a plugin must not throw; a destructor cannot pass it on
    }
  }

  PluginTransform(const PluginTransform&) = delete;
  PluginTransform& operator=(const PluginTransform&) = delete;

  Result<void> apply(const Input& input, Emitter& out) override {
    const bridge::core::RecordView& record = input.record;
    const Envelope& envelope = input.envelope;
    cb_input in{};
    in.payload = to_abi(record.payload);
    in.topic = to_abi(record.topic);
    in.partition = record.partition;
    in.offset = record.offset;
    in.timestamp_ms = record.timestamp_ms;
    in.key = to_abi(record.key);
    in.event_name = to_abi(envelope.event_name);
    in.event_id = to_abi(envelope.event_id);
    in.org_id = envelope.org_id;
    in.has_org_id = envelope.has_org_id ? 1 : 0;
    in.created_at_ms = envelope.created_at_ms;
    in.has_created_at = envelope.has_created_at ? 1 : 0;
    in.event_raw = to_abi(envelope.event_raw);
    in.data_raw = to_abi(envelope.data_raw);

    Call call{*this, out};
    const cb_emitter emitter{&call, &PluginTransform::emit_callback,
                             &PluginTransform::reject_callback};
    // A C++ exception thrown anyway reaches Stage, which dead-letters as `transform-failed`.
    const int status = api_.apply(instance_, &in, &emitter);
    if (call.host_failed) {
      return bridge::core::reject("transform-failed",
                                  fmt::format("plugin '{}': the host ran out of memory", name()));
    }
    if (call.rejected) {
      return bridge::core::reject(std::move(call.code), std::move(call.message));
    }
    if (status == CB_OK) {
      return {};
    }
    if (status == CB_REJECT) {
      return bridge::core::reject(
          "plugin-rejected",
          fmt::format("plugin '{}' rejected the record without giving a reason", name()));
    }
    return bridge::core::reject(
        "plugin-output", fmt::format("plugin '{}' returned status {} (expected CB_OK or CB_REJECT)",
                                     name(), status));
  }

 private:
  // Host side of one apply() call; cb_emitter.ctx points at it. The first reason given wins.
  struct Call {
    Call(PluginTransform& transform, Emitter& emitter) : self(transform), out(emitter) {}

    PluginTransform& self;
    Emitter& out;
    bool rejected = false;
    bool host_failed = false;  // an allocation failed inside a callback
    std::string code;
    std::string message;

    void reject(std::string reason, std::string text) {
      rejected = true;
      code = std::move(reason);
      message = std::move(text);
    }
  };

  // C callbacks: nothing may escape them into the plugin's frames.
  static int emit_callback(void* ctx, int kind, const char* body, std::size_t len) noexcept {
    if (ctx == nullptr) {
      return CB_REJECT;
    }
    Call& call = *static_cast<Call*>(ctx);
    if (call.rejected) {
      return CB_REJECT;
    }
    try {
      return call.self.emit(call, kind, body != nullptr ? std::string_view(body, len) : "");
    } catch (...) {
      call.rejected = true;
      call.host_failed = true;
      return CB_REJECT;
    }
  }

  static void reject_callback(void* ctx, const char* reason, const char* message) noexcept {
    if (ctx == nullptr) {
      return;
    }
    Call& call = *static_cast<Call*>(ctx);
    if (call.rejected) {
      return;
    }
    try {
      const std::string_view text = cut_message(message);
      if (valid_reason(reason)) {
        call.reject(reason, fmt::format("plugin '{}': {}", call.self.name(), text));
      } else {
        call.reject("plugin-rejected",
                    fmt::format("plugin '{}' gave an invalid reason code; its message: {}",
                                call.self.name(), text));
      }
    } catch (...) {
      call.rejected = true;
      call.host_failed = true;
    }
  }

  int emit(Call& call, int kind, std::string_view body) {
    const std::optional<OutputKind> output = kind_from_abi(kind);
    if (!output) {
      call.reject("plugin-output",
                  fmt::format("plugin '{}' emitted an output of unknown kind {}", name(), kind));
      return CB_REJECT;
    }
    const Target* target = config_->targets[index_of(*output)];
    if (target == nullptr) {
      call.reject("plugin-output",
                  fmt::format("plugin '{}' emitted a {} output, but the route has no `targets.{}`",
                              name(), to_string(*output), to_string(*output)));
      return CB_REJECT;
    }
    if (const simdjson::error_code error = check_json(body); error != simdjson::SUCCESS) {
      call.reject("plugin-output",
                  fmt::format("plugin '{}' emitted a {} output that is not valid JSON ({})", name(),
                              to_string(*output), simdjson::error_message(error)));
      return CB_REJECT;
    }
    call.out.emit(*output, *target, body);
    return CB_OK;
  }

  // Parses `body` in full (UTF-8 included) from this instance's padded buffer, which only grows.
  simdjson::error_code check_json(std::string_view body) {
    const std::size_t needed = body.size() + simdjson::SIMDJSON_PADDING;
    if (needed > scratch_size_) {
      scratch_size_ = std::max(needed, 2 * scratch_size_);
      scratch_ = std::make_unique_for_overwrite<char[]>(scratch_size_);
    }
    std::memcpy(scratch_.get(), body.data(), body.size());
    std::memset(scratch_.get() + body.size(), 0, simdjson::SIMDJSON_PADDING);
    return parser_.parse(scratch_.get(), body.size(), false).error();
  }

  [[nodiscard]] const std::string& name() const { return config_->library->name; }

  std::shared_ptr<const Config> config_;
  const cb_plugin& api_;
  void* instance_;
  simdjson::dom::parser parser_;
  std::unique_ptr<char[]> scratch_;
  std::size_t scratch_size_ = 0;
};

// ---- the factory --------------------------------------------------------------------------------

std::optional<OutputKind> parse_kind(std::string_view text) {
  for (const OutputKind kind : kKinds) {
    if (to_string(kind) == text) {
      return kind;
    }
  }
  return std::nullopt;
}

bool read_targets(const FactoryContext& ctx, const YAML::Node& key, const YAML::Node& value,
                  Config& config) {
  auto& diags = ctx.diagnostics;
  if (!value.IsMap() || value.size() == 0) {
    diags.error(value.IsNull() ? key : value,
                "plugin: `targets` must map at least one of profile, experience_event, raw to "
                "a target name");
    return false;
  }
  bool ok = true;
  for (const auto& entry : value) {
    const std::string kind_name = entry.first.IsScalar() ? entry.first.Scalar() : std::string();
    const std::optional<OutputKind> kind = parse_kind(kind_name);
    if (!kind) {
      diags.error(entry.first, fmt::format("plugin: unknown output kind '{}' under `targets` "
                                           "(known: profile, experience_event, raw)",
                                           kind_name));
      ok = false;
      continue;
    }
    const YAML::Node& name = entry.second;
    if (!name.IsScalar() || name.Scalar().empty()) {
      diags.error(name, fmt::format("plugin: `targets.{}` must be a target name", kind_name));
      ok = false;
      continue;
    }
    const Target* target = ctx.targets(name.Scalar());
    if (target == nullptr) {
      diags.error(name, fmt::format("plugin: unknown target '{}' (targets are defined under "
                                    "`targets:`)",
                                    name.Scalar()));
      ok = false;
      continue;
    }
    config.targets[index_of(*kind)] = target;
  }
  return ok;
}

class PluginFactory final : public TransformFactory {
 public:
  [[nodiscard]] std::string_view name() const override { return kName; }

  [[nodiscard]] TransformCreator create(const FactoryContext& ctx) const override {
    try {
      return validate(ctx);
    } catch (const std::exception& e) {
      // Positionless on purpose: the router puts it at the route.
      ctx.diagnostics.error(fmt::format("plugin: invalid settings: {}", e.what()));
      return {};
    }
  }

 private:
  static TransformCreator validate(const FactoryContext& ctx) {
    const YAML::Node& settings = ctx.settings;
    auto& diags = ctx.diagnostics;
    if (!settings.IsDefined() || settings.IsNull()) {
      diags.error(
          "plugin: settings are required (`path:` names the plugin's .so, `targets:` "
          "where its outputs go)");
      return {};
    }
    if (!settings.IsMap()) {
      diags.error(settings, "plugin: settings must be a map with `path`, `settings` and `targets`");
      return {};
    }
    auto config = std::make_shared<Config>();
    bool ok = true;
    bool has_path = false;
    bool has_targets = false;
    // Node handles are emplaced, never assigned: yaml-cpp's Node::operator= writes through.
    std::optional<YAML::Node> path;
    std::optional<YAML::Node> plugin_settings;
    YAML::Mark settings_mark = settings.Mark();
    for (const auto& entry : settings) {
      const YAML::Node& key = entry.first;
      const YAML::Node& value = entry.second;
      const std::string name = key.IsScalar() ? key.Scalar() : std::string();
      if (name == "path") {
        has_path = true;
        path.emplace(value);
        if (!value.IsScalar() || value.Scalar().empty()) {
          diags.error(value, "plugin: `path` must be the file name of the plugin's .so");
          ok = false;
          path.reset();
        }
      } else if (name == "settings") {
        plugin_settings.emplace(value);
        // An empty value has no useful position of its own.
        settings_mark = value.IsNull() ? key.Mark() : value.Mark();
      } else if (name == "targets") {
        has_targets = true;
        ok = read_targets(ctx, key, value, *config) && ok;
      } else {
        diags.error(key, fmt::format("plugin: unknown setting '{}' (known: path, settings, "
                                     "targets)",
                                     name));
        ok = false;
      }
    }
    if (!has_path) {
      diags.error(settings, "plugin: `path` is required (the file name of the plugin's .so)");
      ok = false;
    }
    if (!has_targets) {
      diags.error(settings,
                  "plugin: `targets` is required: map at least one of profile, "
                  "experience_event, raw to a target name");
      ok = false;
    }
    std::optional<std::string> json =
        plugin_settings ? yaml_to_json(*plugin_settings, diags) : std::string("null");
    ok = json.has_value() && ok;
    if (path) {
      const auto file = checked_path(path->Scalar(), ctx.options, *path, diags);
      if (!file) {
        ok = false;
      } else if (ctx.options.load_code) {
        config->library = load(path->Scalar(), *file, *path, diags);
        ok = config->library != nullptr && json &&
             probe(*config->library, *json, settings_mark, diags) && ok;
      }
    }
    if (!ok) {
      return {};
    }
    if (!ctx.options.load_code) {
      // Checked only (`validate --no-plugins`): such a plan is never run.
      return []() -> std::unique_ptr<Transform> { return nullptr; };
    }
    config->settings_json = std::move(*json);
    std::shared_ptr<const Config> shared = std::move(config);
    // Runs on each worker's thread. A plugin that refuses settings it accepted at startup gets
    // nullptr, which Stage reports as `transform-create`.
    return [shared]() -> std::unique_ptr<Transform> {
      const cb_plugin& api = *shared->library->api;
      std::array<char, kErrorBytes> err{};
      void* instance = api.create(shared->settings_json.c_str(), shared->settings_json.size(),
                                  err.data(), err.size());
      if (instance == nullptr) {
        return nullptr;
      }
      try {
        return std::make_unique<PluginTransform>(shared, instance);
      } catch (...) {
        api.destroy(instance);
        throw;
      }
    };
  }
};

}  // namespace

std::optional<std::string> yaml_to_json(const YAML::Node& node, Diagnostics& diags) {
  rapidjson::StringBuffer buffer;
  JsonWriter writer(buffer);
  if (!node.IsDefined()) {
    writer.Null();
  } else if (!write_node(node, writer, diags, 0)) {
    return std::nullopt;
  }
  return std::string(buffer.GetString(), buffer.GetSize());
}

std::unique_ptr<TransformFactory> make_factory() {
  return std::make_unique<PluginFactory>();
}

}  // namespace transforms::plugin
