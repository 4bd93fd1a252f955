#pragma once
// Process and filesystem helpers for integration and e2e tests: free loopback ports, temporary
// directories, and child processes that a test always stops (the destructor SIGKILLs and reaps).
//
// Test code: failures to set up (fork, mkdtemp, bind) throw std::runtime_error, which gtest turns
// into a test failure with the message.

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace bridge::harness {

// A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0, read the port, close).
[[nodiscard]] std::uint16_t free_port();

// BRIDGE_SOURCE_DIR / BRIDGE_BINARY_DIR as set by ctest; throws when unset.
[[nodiscard]] std::string source_dir();
[[nodiscard]] std::string binary_dir();
// ${BRIDGE_BINARY_DIR}/bridge/capillary-bridge
[[nodiscard]] std::string bridge_binary();

// A fresh directory under $TMPDIR (or /tmp), removed with its contents on destruction unless
// BRIDGE_KEEP_TEST_DIRS is set in the environment (then its path is printed).
class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "capillary-test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  [[nodiscard]] const std::string& path() const { return path_; }
  [[nodiscard]] std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

void write_file(const std::string& path, const std::string& content);
[[nodiscard]] std::string read_file(const std::string& path);  // "" when missing
// The last `lines` lines of a file (for error messages).
[[nodiscard]] std::string tail_file(const std::string& path, std::size_t lines = 40);

struct ExitStatus {
  bool exited = false;  // normal exit: `code` is valid
  int code = 0;
  bool signaled = false;  // killed by a signal: `signal` is valid
  int signal = 0;
};
[[nodiscard]] std::string to_string(const ExitStatus& status);

struct ChildOptions {
  std::vector<std::string> args;           // args[0] is the program (PATH is searched)
  std::map<std::string, std::string> env;  // added to (overriding) the test's environment
  std::string stdout_path;                 // "" = /dev/null
  std::string stderr_path;                 // "" = /dev/null
  std::string cwd;                         // "" = the test's working directory
};

// A child process in its own process group, killed (SIGKILL) if the test process dies first.
class ChildProcess {
 public:
  explicit ChildProcess(ChildOptions options);  // forks and execs; throws on failure
  ~ChildProcess();                              // SIGKILLs the group (when still running), reaps
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  [[nodiscard]] pid_t pid() const { return pid_; }
  // Non-blocking: whether the process has not exited yet (reaps it when it has).
  [[nodiscard]] bool running();
  void kill(int sig);
  // Waits at most `timeout` for the process to exit; nullopt when it is still running.
  std::optional<ExitStatus> wait(std::chrono::milliseconds timeout);
  // SIGTERM, then waits at most `timeout`; when it is still running then, SIGKILL (and reap).
  // Returns the status of an exit within `timeout`, nullopt when it had to be killed.
  std::optional<ExitStatus> terminate(std::chrono::milliseconds timeout);
  // The exit status once the process was reaped.
  [[nodiscard]] const std::optional<ExitStatus>& status() const { return status_; }

  [[nodiscard]] const ChildOptions& options() const { return options_; }
  [[nodiscard]] std::string stdout_tail(std::size_t lines = 40) const;
  [[nodiscard]] std::string stderr_tail(std::size_t lines = 40) const;

 private:
  bool reap(bool block);

  ChildOptions options_;
  pid_t pid_ = -1;
  std::optional<ExitStatus> status_;
};

// Polls `condition` every `interval` until it is true or `timeout` passes; returns its last value.
template <typename Condition>
bool wait_until(Condition condition, std::chrono::milliseconds timeout,
                std::chrono::milliseconds interval = std::chrono::milliseconds(50)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (condition()) {
      return true;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return condition();
    }
    std::this_thread::sleep_for(interval);
  }
}

// Peak resident set (VmHWM of /proc/<pid>/status) in KiB; -1 when unknown.
[[nodiscard]] long peak_rss_kib(pid_t pid);
// utime + stime of a process so far, in seconds; -1 when unknown.
[[nodiscard]] double cpu_seconds(pid_t pid);

}  // namespace bridge::harness
