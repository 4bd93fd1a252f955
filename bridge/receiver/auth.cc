#include "bridge/receiver/auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <memory>

namespace bridge::receiver {

Authenticator::Authenticator(const config::ReceiverAuth& auth) : header_(auth.header) {
  accepted_.reserve(auth.tokens.size());
  for (const auto& token : auth.tokens) {
    accepted_.push_back(digest(auth.prefix, token.reveal()));
  }
}

Authenticator::Digest Authenticator::digest(std::string_view a, std::string_view b) {
  Digest out{};
  const std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(),
                                                                    &EVP_MD_CTX_free);
  unsigned int size = 0;
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1 ||
      EVP_DigestUpdate(ctx.get(), a.data(), a.size()) != 1 ||
      EVP_DigestUpdate(ctx.get(), b.data(), b.size()) != 1 ||
      EVP_DigestFinal_ex(ctx.get(), out.data(), &size) != 1) {
    // No digest: an all-zero one. A presented value failing the same way never matches, since
    // accepts() refuses that case before comparing.
    out.fill(0);
  }
  return out;
}

bool Authenticator::accepts(std::string_view value) const {
  static const Digest kFailed{};
  const Digest presented = digest(value);
  bool match = false;
  for (const auto& d : accepted_) {
    match |= CRYPTO_memcmp(presented.data(), d.data(), d.size()) == 0;
  }
  return match && CRYPTO_memcmp(presented.data(), kFailed.data(), kFailed.size()) != 0;
}

}  // namespace bridge::receiver
