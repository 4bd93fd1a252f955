#include "bridge/core/fatal.h"

#include <spdlog/spdlog.h>

#include <exception>
#include <mutex>

namespace bridge::core {
namespace {

std::mutex& mutex() {
  static std::mutex m;
  return m;
}

std::optional<std::string>& reason() {
  static std::optional<std::string> r;
  return r;
}

}  // namespace

void report_fatal(std::string_view where, std::string_view what) {
  spdlog::critical("fatal in {}: {}", where, what);
  const std::lock_guard lock(mutex());
  if (!reason()) {
    reason() = std::string(where) + ": " + std::string(what);
  }
}

std::optional<std::string> fatal_reason() {
  const std::lock_guard lock(mutex());
  return reason();
}

void reset_fatal_for_tests() {
  const std::lock_guard lock(mutex());
  reason().reset();
}

void run_guarded(std::string_view thread_name, const std::function<void()>& body) {
  try {
    body();
  } catch (const std::exception& e) {
    report_fatal(thread_name, std::string("unexpected exception: ") + e.what());
  } catch (...) {
    report_fatal(thread_name, "unexpected exception of unknown type");
  }
}

}  // namespace bridge::core
