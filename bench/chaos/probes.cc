#include "bench/chaos/probes.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cctype>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>

namespace bridge::chaos {
namespace {

// "VmHWM:    12345 kB" -> 12345
std::uint64_t kib_of(const std::string& line) {
  return std::strtoull(line.c_str() + line.find(':') + 1, nullptr, 10);
}

}  // namespace

RssSampler::RssSampler(std::chrono::milliseconds interval) : interval_(interval) {
  thread_ = std::thread([this] {
    while (!stop_.load()) {
      sample();
      const auto until = std::chrono::steady_clock::now() + interval_;
      while (!stop_.load() && std::chrono::steady_clock::now() < until) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    }
  });
}

RssSampler::~RssSampler() {
  stop_ = true;
  thread_.join();
}

void RssSampler::sample() {
  const std::lock_guard lock(mutex_);
  const std::string parent = std::to_string(::getpid());
  DIR* proc = ::opendir("/proc");
  if (proc == nullptr) {
    return;
  }
  while (const dirent* entry = ::readdir(proc)) {
    if (std::isdigit(static_cast<unsigned char>(entry->d_name[0])) == 0) {
      continue;
    }
    std::ifstream status(fmt::format("/proc/{}/status", entry->d_name));
    std::string line;
    bool bridge = false;
    bool child = false;
    std::uint64_t peak = 0;
    while (std::getline(status, line)) {
      if (line.rfind("Name:", 0) == 0) {
        // The kernel keeps 15 characters of the name.
        bridge = line.find("capillary-bridg") != std::string::npos;
        if (!bridge) {
          break;
        }
      } else if (line.rfind("PPid:", 0) == 0) {
        child = std::strtoul(line.c_str() + 5, nullptr, 10) ==
                std::strtoul(parent.c_str(), nullptr, 10);
      } else if (line.rfind("VmHWM:", 0) == 0 || line.rfind("VmRSS:", 0) == 0) {
        peak = std::max(peak, kib_of(line));
      }
    }
    if (bridge && child && peak > 0) {
      std::uint64_t seen = max_kib_.load();
      while (peak > seen && !max_kib_.compare_exchange_weak(seen, peak)) {
      }
    }
  }
  ::closedir(proc);
  ++samples_;
}

bool AcceptedFeed::poll(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return false;
  }
  timeval tv{};
  tv.tv_sec = 30;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  ::inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return false;
  }
  const std::string request = fmt::format(
      "GET /emulator/messages?from={} HTTP/1.0\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\r\n",
      read_, port);
  if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(request.size())) {
    ::close(fd);
    return false;
  }
  std::string pending;
  bool in_body = false;
  bool ok = false;
  std::array<char, 1 << 16> buf{};
  for (;;) {
    const ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
    if (n <= 0) {
      break;
    }
    pending.append(buf.data(), static_cast<std::size_t>(n));
    if (!in_body) {
      const auto end = pending.find("\r\n\r\n");
      if (end == std::string::npos) {
        continue;
      }
      ok = pending.rfind("HTTP/1.", 0) == 0 && pending.compare(9, 3, "200") == 0;
      if (!ok) {
        break;
      }
      pending.erase(0, end + 4);
      in_body = true;
    }
    std::size_t start = 0;
    for (auto nl = pending.find('\n'); nl != std::string::npos; nl = pending.find('\n', start)) {
      each_(std::string_view(pending).substr(start, nl - start));
      ++read_;
      start = nl + 1;
    }
    pending.erase(0, start);
  }
  ::close(fd);
  return ok;
}

void ExitTally::add(const harness::ExitStatus& status) {
  if (status.exited) {
    add(std::to_string(status.code));
  } else if (status.signaled) {
    const char* name = sigabbrev_np(status.signal);
    add(name != nullptr ? std::string(name) : fmt::format("sig{}", status.signal));
  } else {
    add("?");
  }
}

std::string ExitTally::str() const {
  std::string out;
  for (const auto& [what, n] : counts_) {
    out += fmt::format("{}{}:{}", out.empty() ? "" : " ", what, n);
  }
  return out.empty() ? "-" : out;
}

}  // namespace bridge::chaos
