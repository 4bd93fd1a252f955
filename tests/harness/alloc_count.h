#pragma once
// Counts heap allocations (operator new) made while counting is on, for tests that prove a warm
// code path allocates nothing. Linking `test_alloc_count` replaces the global operator new and
// delete of the test binary with malloc/free wrappers that count. Sanitizer builds keep their own
// allocator: counts_allocations() is false there, and tests skip the assertion.

namespace bridge::testing {

[[nodiscard]] bool counts_allocations();

// Allocations between start() and stop(), from every thread.
class AllocationCount {
 public:
  void start();
  long stop();
};

}  // namespace bridge::testing
