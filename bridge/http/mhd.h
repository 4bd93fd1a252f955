#pragma once
// What the two libmicrohttpd servers (the webhook receiver, bridge/receiver, and the Platform
// emulator, bridge/emulator) share: the listen address, PEM files for HTTPS and libmicrohttpd's
// log lines. Error codes are the caller's (`receiver-listen`, `emulator-tls`, ...).

#include <sys/socket.h>

#include <cstdarg>
#include <string>
#include <string_view>

#include "bridge/core/result.h"

namespace bridge::http {

struct ListenAddress {
  sockaddr_storage address{};
  bool ipv6 = false;
  std::string url_host;  // for URLs: the address, 127.0.0.1 / [::1] for a wildcard one
};

// "HOST:PORT" or "[IPv6]:PORT"; port 0 asks the kernel for a free port.
core::Result<ListenAddress> parse_listen(const std::string& listen, std::string_view code);
// A PEM file's whole contents; a missing or empty file is an error naming `what` and the path.
core::Result<std::string> read_pem(const std::string& path, std::string_view what,
                                   std::string_view code);
// MHD_OPTION_EXTERNAL_LOGGER: libmicrohttpd's messages at debug level, one line each.
void log_from_mhd(void* cls, const char* format, va_list args);

}  // namespace bridge::http
