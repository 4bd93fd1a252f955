#include "bridge/core/secret.h"

#include <sys/prctl.h>

#include <cstdlib>
#include <cstring>
#include <utility>

namespace bridge::core {

Secret::Secret(std::string&& value)
    : bytes_(value.empty() ? nullptr : std::make_unique<char[]>(value.size())),
      size_(value.size()) {
  if (size_ > 0) {
    std::memcpy(bytes_.get(), value.data(), size_);
  }
  wipe(value);
}

Secret::~Secret() {
  reset();
}

Secret::Secret(Secret&& other) noexcept
    : bytes_(std::move(other.bytes_)), size_(std::exchange(other.size_, 0)) {}

Secret& Secret::operator=(Secret&& other) noexcept {
  if (this != &other) {
    reset();
    bytes_ = std::move(other.bytes_);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

void Secret::reset() noexcept {
  if (bytes_) {
    wipe(bytes_.get(), size_);
    bytes_.reset();
  }
  size_ = 0;
}

void wipe(char* data, std::size_t size) noexcept {
  if (data != nullptr && size > 0) {
    explicit_bzero(data, size);
  }
}

void wipe(std::string& s) noexcept {
  // Bytes past size() may hold an earlier, longer value: wipe the whole buffer (resize() up to
  // the capacity never reallocates).
  s.resize(s.capacity());
  wipe(s.data(), s.size());
  s.clear();
}

void scrub_env(const char* name) noexcept {
  if (char* value = std::getenv(name); value != nullptr) {
    wipe(value, std::strlen(value));
  }
  ::unsetenv(name);
}

bool harden_process(bool allow_core_dumps) noexcept {
  if (allow_core_dumps) {
    return true;
  }
  return ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == 0;
}

}  // namespace bridge::core
