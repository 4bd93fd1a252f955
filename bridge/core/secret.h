#pragma once
// Secrets in memory (the IMS client secret, SASL and SSL key passwords) and the process-wide
// measures that keep them from leaking: a move-only holder that wipes its bytes, wiping of
// strings and environment variables that carried one, and turning off core dumps and ptrace.

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace bridge::core {

// Owns a secret's bytes on the heap, once: move-only (a copy is a compile error), wiped on
// destruction, reset and move-assignment. Never printed: no operator<< and no fmt formatter.
// reveal() is for the point of use (a form body, librdkafka's configuration) only.
class Secret {
 public:
  Secret() = default;
  // Takes the bytes of `value` and wipes it (the caller's copy is gone).
  explicit Secret(std::string&& value);
  ~Secret();
  Secret(Secret&& other) noexcept;
  Secret& operator=(Secret&& other) noexcept;
  Secret(const Secret&) = delete;
  Secret& operator=(const Secret&) = delete;

  // Never a null pointer (an empty secret is ""): C APIs take it as it is.
  [[nodiscard]] std::string_view reveal() const noexcept {
    return bytes_ ? std::string_view(bytes_.get(), size_) : std::string_view("");
  }
  [[nodiscard]] bool empty() const noexcept { return size_ == 0; }
  void reset() noexcept;

 private:
  std::unique_ptr<char[]> bytes_;
  std::size_t size_ = 0;
};

// Overwrites every byte `s` holds (its whole capacity) with zeros, then empties it.
void wipe(std::string& s) noexcept;
void wipe(char* data, std::size_t size) noexcept;

// Wipes the value of the environment variable `name` where the process keeps it (including the
// initial environment block /proc/PID/environ shows) and removes it. Not thread-safe (the
// environment never is): call while the process is single-threaded or before reading it again.
void scrub_env(const char* name) noexcept;

// PR_SET_DUMPABLE 0: no core dump, no ptrace attach or /proc/PID/mem by other users; unless
// `allow_core_dumps` (debugging). Returns false when the kernel refused.
bool harden_process(bool allow_core_dumps) noexcept;

}  // namespace bridge::core
