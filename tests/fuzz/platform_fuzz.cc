// What the platform sink reads from the network: 207 bodies, error bodies, Retry-After values
// and IMS token answers. The first byte picks the parser; the rest is the input. Invariants:
// - parse_batch_response never throws; every message is at most kMaxMessageBytes, holds no
//   control character, and status is -1, 0 or a positive HTTP-sized code;
// - error_message is at most kMaxMessageBytes with no control character;
// - parse_retry_after stays within [0, cap];
// - parse_token_response either fails or gives a positive lifetime and a non-empty token.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "bridge/platform/response.h"
#include "bridge/platform/retry_after.h"
#include "bridge/platform/token.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

namespace p = bridge::platform;

bool clean(std::string_view text) {
  for (const char c : text) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return false;
    }
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) {
    return 0;
  }
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 4) {
    case 0: {
      const auto parsed = p::parse_batch_response(input);
      if (parsed) {
        for (const auto& r : parsed->responses) {
          FUZZ_CHECK(r.message.size() <= p::kMaxMessageBytes, "message bounded");
          FUZZ_CHECK(clean(r.message), "no control characters in a message");
          FUZZ_CHECK(r.status >= -1, "status is -1, 0 or a code");
        }
      }
      break;
    }
    case 1: {
      const std::string text = p::error_message(input);
      FUZZ_CHECK(text.size() <= p::kMaxMessageBytes, "error text bounded");
      FUZZ_CHECK(clean(text), "no control characters in error text");
      break;
    }
    case 2: {
      constexpr std::chrono::milliseconds kCap(60'000);
      const auto after = p::parse_retry_after(input, std::chrono::system_clock::time_point{}, kCap);
      if (after) {
        FUZZ_CHECK(after->count() >= 0 && *after <= kCap, "Retry-After within [0, cap]");
      }
      break;
    }
    default: {
      const auto token = p::parse_token_response(input, "auto", "https://x/ims/token/v3");
      if (token) {
        FUZZ_CHECK(!token->access_token.empty(), "a token is never empty");
        FUZZ_CHECK(token->lifetime.count() > 0, "a lifetime is positive");
      }
      break;
    }
  }
  return 0;
}
