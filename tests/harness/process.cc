#include "tests/harness/process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <stdexcept>

extern char** environ;

namespace bridge::harness {
namespace {

[[noreturn]] void fail_errno(const std::string& what) {
  throw std::runtime_error(fmt::format("{}: {}", what, std::strerror(errno)));
}

std::string env_or_throw(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') {
    throw std::runtime_error(
        fmt::format("{} is not set: run this test through ctest (it sets BRIDGE_SOURCE_DIR and "
                    "BRIDGE_BINARY_DIR)",
                    name));
  }
  return v;
}

// Resolves a program name against PATH before fork (execvp is not async-signal-safe).
std::string resolve_program(const std::string& program) {
  if (program.find('/') != std::string::npos) {
    if (::access(program.c_str(), X_OK) != 0) {
      throw std::runtime_error(
          fmt::format("{} is not an executable file (not built yet?)", program));
    }
    return program;
  }
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    std::string candidate = fmt::format("{}/{}", dir.empty() ? "." : dir, program);
    if (::access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
  }
  throw std::runtime_error(fmt::format("program not found on PATH: {}", program));
}

ExitStatus decode(int raw) {
  ExitStatus s;
  if (WIFEXITED(raw)) {
    s.exited = true;
    s.code = WEXITSTATUS(raw);
  } else if (WIFSIGNALED(raw)) {
    s.signaled = true;
    s.signal = WTERMSIG(raw);
  }
  return s;
}

}  // namespace

std::uint16_t free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    fail_errno("socket");
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  sockaddr* sa = reinterpret_cast<sockaddr*>(&addr);
  socklen_t len = sizeof(addr);
  if (::bind(fd, sa, len) != 0 || ::getsockname(fd, sa, &len) != 0) {
    const int saved = errno;
    ::close(fd);
    errno = saved;
    fail_errno("bind 127.0.0.1:0");
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

std::string source_dir() {
  return env_or_throw("BRIDGE_SOURCE_DIR");
}
std::string binary_dir() {
  return env_or_throw("BRIDGE_BINARY_DIR");
}
std::string bridge_binary() {
  return binary_dir() + "/bridge/capillary-bridge";
}

TempDir::TempDir(const std::string& prefix) {
  const char* tmp = std::getenv("TMPDIR");
  std::string tmpl =
      fmt::format("{}/{}-XXXXXX", tmp != nullptr && *tmp != '\0' ? tmp : "/tmp", prefix);
  if (::mkdtemp(tmpl.data()) == nullptr) {
    fail_errno("mkdtemp " + tmpl);
  }
  path_ = tmpl;
}

TempDir::~TempDir() {
  if (std::getenv("BRIDGE_KEEP_TEST_DIRS") != nullptr) {
    std::cerr << "keeping test directory " << path_ << "\n";
    return;
  }
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

void write_file(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  if (!out) {
    throw std::runtime_error("cannot write " + path);
  }
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return {};
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string tail_file(const std::string& path, std::size_t lines) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return fmt::format("({} does not exist)", path);
  }
  std::deque<std::string> last;
  std::string line;
  while (std::getline(in, line)) {
    if (line.size() > 2000) {
      line.resize(2000);
      line += " [...]";
    }
    last.push_back(std::move(line));
    if (last.size() > lines) {
      last.pop_front();
    }
  }
  std::string out;
  for (const auto& l : last) {
    out += l;
    out += '\n';
  }
  return out;
}

std::string to_string(const ExitStatus& status) {
  if (status.exited) {
    return fmt::format("exited with code {}", status.code);
  }
  if (status.signaled) {
    return fmt::format("killed by signal {} ({})", status.signal, ::strsignal(status.signal));
  }
  return "unknown exit status";
}

ChildProcess::ChildProcess(ChildOptions options) : options_(std::move(options)) {
  if (options_.args.empty()) {
    throw std::runtime_error("ChildProcess: no program");
  }
  // Everything the child needs is prepared before fork: after fork only async-signal-safe calls.
  const std::string program = resolve_program(options_.args.front());
  std::vector<char*> argv;
  argv.reserve(options_.args.size() + 1);
  for (auto& a : options_.args) {
    argv.push_back(a.data());
  }
  argv.push_back(nullptr);

  std::map<std::string, std::string> env_map;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string kv(*e);
    const auto eq = kv.find('=');
    if (eq != std::string::npos) {
      env_map[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
  }
  for (const auto& [k, v] : options_.env) {
    env_map[k] = v;
  }
  std::vector<std::string> env_strings;
  env_strings.reserve(env_map.size());
  for (const auto& [k, v] : env_map) {
    env_strings.push_back(fmt::format("{}={}", k, v));
  }
  std::vector<char*> envp;
  envp.reserve(env_strings.size() + 1);
  for (auto& s : env_strings) {
    envp.push_back(s.data());
  }
  envp.push_back(nullptr);

  const std::string out_path = options_.stdout_path.empty() ? "/dev/null" : options_.stdout_path;
  const std::string err_path = options_.stderr_path.empty() ? "/dev/null" : options_.stderr_path;
  const pid_t parent = ::getpid();

  pid_ = ::fork();
  if (pid_ < 0) {
    fail_errno("fork");
  }
  if (pid_ == 0) {
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) {
      ::_exit(127);  // the test process died between fork and prctl
    }
    // Signals blocked by the test's threads must not stay blocked in the program.
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    const int in_fd = ::open("/dev/null", O_RDONLY);
    const int out_fd = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    const int err_fd = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (in_fd < 0 || out_fd < 0 || err_fd < 0) {
      ::_exit(126);
    }
    ::dup2(in_fd, 0);
    ::dup2(out_fd, 1);
    ::dup2(err_fd, 2);
    if (!options_.cwd.empty() && ::chdir(options_.cwd.c_str()) != 0) {
      ::_exit(126);
    }
    ::execve(program.c_str(), argv.data(), envp.data());
    static constexpr char kMsg[] = "ChildProcess: execve failed\n";
    [[maybe_unused]] const auto n = ::write(2, kMsg, sizeof(kMsg) - 1);
    ::_exit(127);
  }
  // Also set the group from the parent side so kill(-pid) works even before the child ran.
  ::setpgid(pid_, pid_);
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0 && !status_) {
    ::kill(-pid_, SIGKILL);
    ::kill(pid_, SIGKILL);
    reap(true);
  }
}

bool ChildProcess::reap(bool block) {
  if (status_) {
    return true;
  }
  int raw = 0;
  for (;;) {
    const pid_t r = ::waitpid(pid_, &raw, block ? 0 : WNOHANG);
    if (r == pid_) {
      status_ = decode(raw);
      return true;
    }
    if (r == 0) {
      return false;
    }
    if (errno != EINTR) {
      status_ = ExitStatus{};
      return true;
    }
  }
}

bool ChildProcess::running() {
  return !reap(false);
}

void ChildProcess::kill(int sig) {
  if (!status_) {
    ::kill(pid_, sig);
  }
}

std::optional<ExitStatus> ChildProcess::terminate(std::chrono::milliseconds timeout) {
  kill(SIGTERM);
  auto st = wait(timeout);
  if (!st) {
    kill(SIGKILL);
    (void)wait(std::chrono::seconds(10));
  }
  return st;
}

std::optional<ExitStatus> ChildProcess::wait(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!reap(false)) {
    if (std::chrono::steady_clock::now() >= deadline) {
      return std::nullopt;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return status_;
}

std::string ChildProcess::stdout_tail(std::size_t lines) const {
  return options_.stdout_path.empty() ? "(stdout discarded)"
                                      : tail_file(options_.stdout_path, lines);
}

std::string ChildProcess::stderr_tail(std::size_t lines) const {
  return options_.stderr_path.empty() ? "(stderr discarded)"
                                      : tail_file(options_.stderr_path, lines);
}

long peak_rss_kib(pid_t pid) {
  std::ifstream in(fmt::format("/proc/{}/status", pid));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) {
      return std::atol(line.c_str() + 6);
    }
  }
  return -1;
}

// utime + stime of a process, in seconds (/proc/<pid>/stat fields 14 and 15).
double cpu_seconds(pid_t pid) {
  std::ifstream in(fmt::format("/proc/{}/stat", pid));
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto close = stat.rfind(')');  // the command name may hold spaces
  if (close == std::string::npos) {
    return -1;
  }
  std::istringstream fields(stat.substr(close + 2));
  std::string field;
  double ticks = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i >= 14) {
      ticks += std::atof(field.c_str());
    }
  }
  return ticks / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

}  // namespace bridge::harness
