#include "transforms/xdm/uuid.h"

#include <openssl/evp.h>

#include <stdexcept>

namespace transforms::xdm {

struct UuidV5::State {
  EVP_MD* sha1 = nullptr;
  EVP_MD_CTX* ctx = nullptr;

  State() : sha1(EVP_MD_fetch(nullptr, "SHA1", nullptr)), ctx(EVP_MD_CTX_new()) {
    if (sha1 == nullptr || ctx == nullptr) {
      EVP_MD_free(sha1);
      EVP_MD_CTX_free(ctx);
      throw std::runtime_error("OpenSSL: SHA-1 is not available");
    }
  }
  ~State() {
    EVP_MD_CTX_free(ctx);
    EVP_MD_free(sha1);
  }
  State(const State&) = delete;
  State& operator=(const State&) = delete;
};

UuidV5::UuidV5() : state_(std::make_unique<State>()) {}
UuidV5::~UuidV5() = default;

bool UuidV5::make(const UuidBytes& ns, std::initializer_list<std::string_view> parts, char* out) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_size = 0;
  bool ok = EVP_DigestInit_ex(state_->ctx, state_->sha1, nullptr) == 1 &&
            EVP_DigestUpdate(state_->ctx, ns.data(), ns.size()) == 1;
  for (const std::string_view part : parts) {
    ok = ok && EVP_DigestUpdate(state_->ctx, part.data(), part.size()) == 1;
  }
  ok = ok && EVP_DigestFinal_ex(state_->ctx, digest, &digest_size) == 1 && digest_size >= 16;
  if (!ok) {
    return false;
  }

  digest[6] = static_cast<unsigned char>((digest[6] & 0x0F) | 0x50);  // version 5
  digest[8] = static_cast<unsigned char>((digest[8] & 0x3F) | 0x80);  // RFC variant
  static constexpr char kHex[] = "0123456789abcdef";
  std::size_t o = 0;
  for (std::size_t i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) {
      out[o++] = '-';
    }
    out[o++] = kHex[digest[i] >> 4];
    out[o++] = kHex[digest[i] & 0x0F];
  }
  return true;
}

}  // namespace transforms::xdm
