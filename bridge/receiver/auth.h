#pragma once
// The secret header a webhook path requires. Capillary's ENS sends fixed headers configured on the
// webhook (e.g. `Authorization: Bearer <token>`); several tokens may be accepted at once, so a
// token can be rotated without refusing a single delivery.
//
// Only SHA-256 digests of the accepted values are kept. A presented value is hashed and compared
// with every digest by CRYPTO_memcmp, all of them every time: how long the check takes does not
// depend on which bytes of a token were right, on the token's length, or on which token matched.

#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "bridge/config/config.h"

namespace bridge::receiver {

class Authenticator {
 public:
  explicit Authenticator(const config::ReceiverAuth& auth);

  [[nodiscard]] const std::string& header() const { return header_; }
  // `value` is the header's value as received; absent headers never get here.
  [[nodiscard]] bool accepts(std::string_view value) const;

 private:
  using Digest = std::array<unsigned char, 32>;
  static Digest digest(std::string_view a, std::string_view b = {});

  std::string header_;
  std::vector<Digest> accepted_;
};

}  // namespace bridge::receiver
