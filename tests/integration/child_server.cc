#include "tests/integration/child_server.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "tests/support/temp_dir.h"

namespace gridcase::testing {
namespace {

constexpr char kReadyMarker[] = "listening on ";
constexpr unsigned kProgramSecondsMax = 300;

// The port in "... listening on 127.0.0.1:PORT (...", or 0.
int PortFromLine(const std::string& line) {
  const size_t at = line.find(kReadyMarker);
  if (at == std::string::npos) return 0;
  const size_t colon = line.find(':', at + sizeof(kReadyMarker) - 1);
  if (colon == std::string::npos) return 0;
  return std::atoi(line.c_str() + colon + 1);
}

}  // namespace

ProgramRun RunProgram(const std::string& binary, const std::vector<std::string>& args,
                      const std::string& input, const std::string& scratch_dir) {
  const std::string in_path = scratch_dir + "/stdin", out_path = scratch_dir + "/stdout",
                    err_path = scratch_dir + "/stderr";
  std::ofstream(in_path) << input;
  std::vector<char*> argv{const_cast<char*>(binary.c_str())};
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(::open(in_path.c_str(), O_RDONLY), STDIN_FILENO);
    ::dup2(::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644), STDOUT_FILENO);
    ::dup2(::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644), STDERR_FILENO);
    // A program that hangs is killed (SIGALRM survives exec), and the
    // test sees exit code -1, long before ctest's own limit.
    ::alarm(kProgramSecondsMax);
    ::execv(binary.c_str(), argv.data());
    ::_exit(127);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, ReadFile(out_path), ReadFile(err_path)};
}

ChildServer::ChildServer(const std::string& binary, const std::vector<std::string>& args) {
  int fds[2];
  if (::pipe(fds) != 0) {
    output_ = "pipe failed";
    return;
  }
  pid_ = ::fork();
  if (pid_ == 0) {
    ::dup2(fds[1], STDOUT_FILENO);
    ::dup2(fds[1], STDERR_FILENO);
    ::close(fds[0]);
    ::close(fds[1]);
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(binary.c_str()));
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(binary.c_str(), argv.data());
    std::perror("execv");
    ::_exit(127);
  }
  ::close(fds[1]);
  // Read line by line until the server says where it listens, or exits.
  std::string line;
  char c;
  while (::read(fds[0], &c, 1) == 1) {
    output_.push_back(c);
    if (c != '\n') {
      line.push_back(c);
      continue;
    }
    port_ = PortFromLine(line);
    line.clear();
    if (port_ != 0) break;
  }
  drainer_ = std::thread([this, fd = fds[0]] { Drain(fd); });
}

ChildServer::~ChildServer() {
  if (pid_ > 0) KillAndWait(SIGKILL);
  if (drainer_.joinable()) drainer_.join();
}

void ChildServer::Drain(int fd) {
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n <= 0) break;
    std::lock_guard<std::mutex> lock(mu_);
    output_.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
}

int ChildServer::KillAndWait(int signal) {
  if (pid_ <= 0) return -1;
  ::kill(pid_, signal);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
  // The server's last lines may still be in the pipe: read to its end (the
  // server has exited, so the end comes) before anyone asks for output().
  if (drainer_.joinable()) drainer_.join();
  return status;
}

std::string ChildServer::output() const {
  std::lock_guard<std::mutex> lock(mu_);
  return output_;
}

}  // namespace gridcase::testing
