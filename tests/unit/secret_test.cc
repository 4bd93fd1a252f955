// Secrets in memory: the move-only holder, wiping, the environment, PR_SET_DUMPABLE, and a scan of
// the process's own memory after a configuration with secrets was loaded: a secret read from
// ${ENV} or a *_file is in memory once while the configuration lives (not in YAML nodes, file
// text or the expanded variable) and nowhere once it is gone. A secret written inline in the
// YAML also passes through yaml-cpp's scanner, whose freed copies are not wiped: only its own
// copy is shown to go (config/README.md says to prefer ${ENV} or _file).
#include "bridge/core/secret.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <type_traits>

#include "bridge/config/config.h"

namespace bridge::core {
namespace {

static_assert(!std::is_copy_constructible_v<Secret>);
static_assert(!std::is_copy_assignable_v<Secret>);
static_assert(std::is_nothrow_move_constructible_v<Secret>);
static_assert(!std::is_copy_constructible_v<config::Config>);  // one copy of each secret

TEST(Secret, HoldsTheBytesOnceAndMovesThem) {
  std::string source = "a-secret-longer-than-small-string-storage";
  Secret s(std::move(source));
  EXPECT_TRUE(source.empty());  // NOLINT(bugprone-use-after-move): wiped, on purpose
  EXPECT_EQ(s.reveal(), "a-secret-longer-than-small-string-storage");
  const char* bytes = s.reveal().data();
  Secret moved(std::move(s));
  EXPECT_TRUE(s.empty());                   // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(moved.reveal().data(), bytes);  // moved, not copied
  Secret assigned;
  assigned = std::move(moved);
  EXPECT_EQ(assigned.reveal().data(), bytes);
  assigned.reset();
  EXPECT_TRUE(assigned.empty());
  EXPECT_TRUE(Secret(std::string()).empty());
  EXPECT_NE(Secret().reveal().data(), nullptr);  // C APIs get "", never NULL
}

TEST(Secret, WipeZeroesEveryByte) {
  std::array<char, 16> buffer{};
  buffer.fill('x');
  wipe(buffer.data(), buffer.size());
  for (const char c : buffer) {
    EXPECT_EQ(c, '\0');
  }
  std::string s(100, 'y');
  wipe(s);
  EXPECT_TRUE(s.empty());
}

TEST(Secret, ScrubbedVariablesLeaveTheEnvironmentWiped) {
  ::setenv("BRIDGE_TEST_SCRUB", "wipe-me-please", 1);
  char* value = std::getenv("BRIDGE_TEST_SCRUB");
  ASSERT_NE(value, nullptr);
  const std::size_t n = std::strlen(value);
  scrub_env("BRIDGE_TEST_SCRUB");
  EXPECT_EQ(std::getenv("BRIDGE_TEST_SCRUB"), nullptr);
  // glibc keeps the block setenv() made; its bytes are zero now.
  for (std::size_t i = 0; i < n; ++i) {
    EXPECT_EQ(value[i], '\0') << i;
  }
  scrub_env("BRIDGE_TEST_NEVER_SET");  // nothing to do, no crash
}

// prctl in a child, so the test process stays as it was.
int dumpable_after(bool allow_core_dumps) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    if (!harden_process(allow_core_dumps)) {
      ::_exit(100);
    }
    ::_exit(::prctl(PR_GET_DUMPABLE, 0, 0, 0, 0));
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(Secret, TheProcessIsNotDumpableUnlessAllowed) {
  ASSERT_EQ(::prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 1) << "the test itself starts dumpable";
  EXPECT_EQ(dumpable_after(false), 0);
  EXPECT_EQ(dumpable_after(true), 1);
}

// Occurrences of `needle` in the process's heap and anonymous mappings (not the stack, where the
// test keeps its needles).
std::size_t occurrences(std::string_view needle) {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  std::size_t found = 0;
  while (std::getline(maps, line)) {
    unsigned long from = 0;
    unsigned long to = 0;
    std::array<char, 5> perms{};
    int name_at = 0;
    if (std::sscanf(line.c_str(), "%lx-%lx %4s %*s %*s %*s %n", &from, &to, perms.data(),
                    &name_at) < 3) {
      continue;
    }
    const std::string_view name = std::string_view(line).substr(static_cast<std::size_t>(name_at));
    if (perms[0] != 'r' || perms[1] != 'w' || !(name.empty() || name == "[heap]")) {
      continue;
    }
    const auto* at = reinterpret_cast<const char*>(from);
    std::size_t left = to - from;
    while (const void* hit = ::memmem(at, left, needle.data(), needle.size())) {
      ++found;
      const auto* next = static_cast<const char*>(hit) + 1;
      left -= static_cast<std::size_t>(next - at);
      at = next;
    }
  }
  return found;
}

// A needle made on the stack, so that the scan finds only the copies the code under test made.
struct Needle {
  explicit Needle(const char* stem) {
    std::snprintf(bytes.data(), bytes.size(), "%s-%d-%s", stem, static_cast<int>(::getpid()),
                  "0f4c9e2a7b");
  }
  [[nodiscard]] std::string_view view() const { return {bytes.data(), std::strlen(bytes.data())}; }
  std::array<char, 64> bytes{};
};

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitized = true;  // terabytes of shadow mappings: no scan
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
#else
constexpr bool kSanitized = false;
#endif

TEST(Secret, ALoadedConfigHoldsEachSecretOnceAndForgetsItWhenGone) {
  if (kSanitized) {
    GTEST_SKIP() << "a memory scan under a sanitizer reads its shadow mappings; the plain build "
                    "runs it";
  }
  const Needle inline_secret("sasl-inline");
  const Needle env_secret("ims-from-env");
  const Needle file_secret("ssl-from-file");
  char dir_template[] = "/tmp/secret-test-XXXXXX";
  ASSERT_NE(::mkdtemp(dir_template), nullptr);
  const std::string dir = dir_template;
  const auto write = [](const std::string& path, std::string& text) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
    ::close(fd);
    wipe(text);
  };
  std::string key_file(file_secret.view());
  key_file += "\n";
  write(dir + "/key-password", key_file);
  ::setenv("BRIDGE_TEST_IMS_SECRET", env_secret.bytes.data(), 1);
  std::string yaml =
      "kafka:\n"
      "  brokers: b:9092\n"
      "  topics: [t]\n"
      "  security:\n"
      "    protocol: SASL_SSL\n"
      "    sasl_mechanism: PLAIN\n"
      "    sasl_username: u\n"
      "    sasl_password: ";
  yaml += inline_secret.view();
  yaml +=
      "\n"
      "    ssl_key_password_file: " +
      dir +
      "/key-password\n"
      "routes:\n"
      "  - transform: passthrough\n"
      "    settings: {target: default}\n"
      "sink:\n"
      "  type: platform\n"
      "  platform:\n"
      "    inlets: {default: {url: 'https://dcs.adobedc.net/collection/abc'}}\n"
      "    ims:\n"
      "      client_id: id\n"
      "      client_secret: ${BRIDGE_TEST_IMS_SECRET}\n";
  const std::string path = dir + "/bridge.yaml";
  write(path, yaml);
  std::size_t inline_before = 0;
  {
    auto loaded = std::make_unique<config::Loaded>(config::load_file(path));
    ASSERT_TRUE(loaded->diagnostics.ok()) << loaded->diagnostics.to_string();
    const auto& c = loaded->config;
    EXPECT_TRUE(c.kafka.security.sasl_password.reveal() == inline_secret.view());
    EXPECT_TRUE(c.kafka.security.ssl_key_password.reveal() == file_secret.view());
    EXPECT_TRUE(c.sink.platform.ims.client_secret.reveal() == env_secret.view());
    EXPECT_EQ(std::getenv("BRIDGE_TEST_IMS_SECRET"), nullptr);
    // Once each: in its Secret. Not in the YAML tree the route settings keep alive, the file's
    // text or the expanded variable.
    EXPECT_EQ(occurrences(env_secret.view()), 1U);
    EXPECT_EQ(occurrences(file_secret.view()), 1U);
    inline_before = occurrences(inline_secret.view());
    EXPECT_GE(inline_before, 1U);
    loaded.reset();
  }
  EXPECT_EQ(occurrences(inline_secret.view()), inline_before - 1);  // its Secret's copy went
  EXPECT_EQ(occurrences(env_secret.view()), 0U);
  EXPECT_EQ(occurrences(file_secret.view()), 0U);
  std::remove(path.c_str());
  std::remove((dir + "/key-password").c_str());
  ::rmdir(dir.c_str());
}

}  // namespace
}  // namespace bridge::core
