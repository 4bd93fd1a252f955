#include "bridge/sink/file_sink.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

namespace bridge::sink {

std::string_view to_string(Verdict verdict) {
  switch (verdict) {
    case Verdict::delivered:
      return "delivered";
    case Verdict::retry:
      return "retry";
    case Verdict::rejected:
      return "rejected";
  }
  return "unknown";
}

core::Result<std::unique_ptr<FileSink>> FileSink::open(const std::string& path, bool fsync) {
  if (path == "-") {
    return std::unique_ptr<FileSink>(new FileSink(STDOUT_FILENO, false, fsync, "stdout"));
  }
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) {
    return core::fail(core::ErrorKind::fatal, "sink-open",
                      fmt::format("cannot open {}: {}", path, std::strerror(errno)));
  }
  return std::unique_ptr<FileSink>(new FileSink(fd, true, fsync, "file"));
}

FileSink::FileSink(int fd, bool owns_fd, bool fsync, std::string name)
    : fd_(fd), owns_fd_(owns_fd), fsync_(fsync), name_(std::move(name)) {}

FileSink::~FileSink() {
  if (owns_fd_) {
    ::close(fd_);
  }
}

bool FileSink::write_all(std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd_, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return false;
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return !fsync_ || owns_fd_ == false || ::fdatasync(fd_) == 0;
}

void FileSink::send(std::span<const Message> messages) {
  buffer_.clear();
  for (const auto& m : messages) {
    buffer_.append(m.body);
    buffer_.push_back('\n');
  }
  // One write per batch: either the whole batch is acknowledged, or none of it is and every
  // message is retried in order (a partial write can leave a duplicate line, never a gap).
  // A regular file that fails mid-write (ENOSPC, EIO) is cut back to where the batch began, so
  // the retried batch never merges with a fragment into one unreadable line.
  const off_t before = owns_fd_ ? ::lseek(fd_, 0, SEEK_END) : -1;
  errno = 0;
  const bool written = write_all(buffer_);
  const int error = errno;
  if (!written && before >= 0) {
    // Best effort: where truncation is refused the retried batch follows the fragment.
    [[maybe_unused]] const int truncated = ::ftruncate(fd_, before);
  }
  healthy_.store(written, std::memory_order_relaxed);
  const Verdict verdict = written ? Verdict::delivered : Verdict::retry;
  // The OS's word (e.g. "No space left on device") goes with the retry: it is what the
  // operator has to act on.
  const std::string why =
      written ? std::string() : fmt::format("write failed: {}", std::strerror(error));
  if (!written) {
    spdlog::warn("file sink: {}; {} message(s) will be retried", why, messages.size());
  }
  for (const auto& m : messages) {
    ready_.push_back({m.ticket, verdict, written ? std::string() : "sink-write", why});
  }
}

void FileSink::poll(std::vector<Outcome>& out, std::chrono::milliseconds wait) {
  if (ready_.empty() && wait.count() > 0) {
    // Verdicts are known at send(); with none pending, honour the wait instead of letting the
    // pipeline spin (e.g. while a partition sits out a retry backoff).
    std::this_thread::sleep_for(wait);
    return;
  }
  for (auto& o : ready_) {
    out.push_back(std::move(o));
  }
  ready_.clear();
}

bool FileSink::flush(std::chrono::milliseconds /*deadline*/) {
  return true;
}

}  // namespace bridge::sink
