#include "bridge/http/mhd.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netdb.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>

namespace bridge::http {

core::Result<ListenAddress> parse_listen(const std::string& listen, std::string_view code) {
  const auto bad = [&listen, code](std::string_view why) {
    return core::fail(core::ErrorKind::fatal, std::string(code),
                      fmt::format("listen address '{}': {}", listen, why));
  };
  std::string host;
  std::string_view port_text;
  if (listen.starts_with('[')) {
    const auto close = listen.find("]:");
    if (close == std::string::npos) {
      return bad("expected [IPv6]:PORT");
    }
    host = listen.substr(1, close - 1);
    port_text = std::string_view(listen).substr(close + 2);
  } else {
    const auto colon = listen.rfind(':');
    if (colon == std::string::npos) {
      return bad("expected HOST:PORT");
    }
    host = listen.substr(0, colon);
    port_text = std::string_view(listen).substr(colon + 1);
  }
  std::uint16_t port = 0;
  const auto parsed = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (parsed.ec != std::errc{} || parsed.ptr != port_text.data() + port_text.size()) {
    return bad("the port must be a number 0-65535");
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* found = nullptr;
  if (const int rc = getaddrinfo(host.empty() ? nullptr : host.c_str(), nullptr, &hints, &found);
      rc != 0 || found == nullptr) {
    return bad(gai_strerror(rc));
  }
  ListenAddress out;
  std::memcpy(&out.address, found->ai_addr, found->ai_addrlen);
  freeaddrinfo(found);
  char text[INET6_ADDRSTRLEN] = {};
  if (out.address.ss_family == AF_INET6) {
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&out.address);
    v6->sin6_port = htons(port);
    out.ipv6 = true;
    inet_ntop(AF_INET6, &v6->sin6_addr, text, sizeof text);
    out.url_host = IN6_IS_ADDR_UNSPECIFIED(&v6->sin6_addr) ? "[::1]" : fmt::format("[{}]", text);
  } else {
    auto* v4 = reinterpret_cast<sockaddr_in*>(&out.address);
    v4->sin_port = htons(port);
    inet_ntop(AF_INET, &v4->sin_addr, text, sizeof text);
    out.url_host = v4->sin_addr.s_addr == htonl(INADDR_ANY) ? "127.0.0.1" : text;
  }
  return out;
}

core::Result<std::string> read_pem(const std::string& path, std::string_view what,
                                   std::string_view code) {
  const auto fail = [&](std::string_view why) {
    return core::fail(core::ErrorKind::fatal, std::string(code),
                      fmt::format("cannot read the TLS {} file {}: {}", what, path, why));
  };
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) {
    return fail(std::strerror(errno));
  }
  std::string out;
  char chunk[4096];
  std::size_t n = 0;
  while ((n = std::fread(chunk, 1, sizeof chunk, file)) > 0) {
    out.append(chunk, n);
  }
  const int error = std::ferror(file) != 0 ? errno : 0;
  std::fclose(file);
  if (error != 0) {
    return fail(std::strerror(error));
  }
  if (out.empty()) {
    return fail("the file is empty");
  }
  return out;
}

void log_from_mhd(void* /*cls*/, const char* format, va_list args) {
  char line[512];
  std::vsnprintf(line, sizeof line, format, args);
  std::string_view text(line);
  while (!text.empty() && text.back() == '\n') {
    text.remove_suffix(1);
  }
  spdlog::debug("libmicrohttpd: {}", text);
}

}  // namespace bridge::http
