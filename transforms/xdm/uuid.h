#pragma once
// RFC 9562 UUID version 5 (SHA-1, name-based): the deterministic ExperienceEvent `_id`
// (reference/xdm-mapping.md section 4), so a redelivered Capillary event gets the same `_id`
// and Platform's Profile store drops the duplicate. SHA-1 is OpenSSL's.
//
// One generator per worker (it keeps an OpenSSL digest context); not thread-safe.

#include <array>
#include <cstdint>
#include <memory>
#include <string_view>

namespace transforms::xdm {

using UuidBytes = std::array<std::uint8_t, 16>;

// 6ba7b811-9dad-11d1-80b4-00c04fd430c8, RFC 9562's URL namespace.
inline constexpr UuidBytes kUrlNamespace = {0x6b, 0xa7, 0xb8, 0x11, 0x9d, 0xad, 0x11, 0xd1,
                                            0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8};

class UuidV5 {
 public:
  static constexpr std::size_t kTextSize = 36;  // lower case, with dashes

  UuidV5();
  ~UuidV5();
  UuidV5(const UuidV5&) = delete;
  UuidV5& operator=(const UuidV5&) = delete;

  // The name is the concatenation of `parts` (saves the caller from building it). Writes
  // kTextSize characters into `out`.
  // False when OpenSSL failed (out is then unusable): not the record's fault.
  [[nodiscard]] bool make(const UuidBytes& ns, std::initializer_list<std::string_view> parts,
                          char* out);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace transforms::xdm
