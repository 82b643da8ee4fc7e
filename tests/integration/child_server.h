// A gridcased process started by a test: its port is read from the line it
// logs once it serves ("listening on host:port"), so nothing waits on a
// timer; its output is kept for diagnostics.
#ifndef GRIDCASE_TESTS_INTEGRATION_CHILD_SERVER_H_
#define GRIDCASE_TESTS_INTEGRATION_CHILD_SERVER_H_

#include <sys/types.h>

#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace gridcase::testing {

class ChildServer {
 public:
  // Starts `binary` with `args` and waits until it serves. On failure the
  // result has port() == 0 and output() says why.
  ChildServer(const std::string& binary, const std::vector<std::string>& args);
  // Kills the process with SIGKILL if it still runs.
  ~ChildServer();

  int port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  pid_t pid() const { return pid_; }

  // Sends `signal`, reaps the process and reads the rest of what it wrote
  // (output() then holds its last lines); returns its wait status.
  int KillAndWait(int signal);
  std::string output() const;

 private:
  void Drain(int fd);

  pid_t pid_ = -1;
  int port_ = 0;
  std::thread drainer_;
  mutable std::mutex mu_;
  std::string output_;  // guarded by mu_
};

// A program run to its end, as a person would run it from a shell.
struct ProgramRun {
  int exit_code = -1;  // -1: killed by a signal
  std::string out;
  std::string err;
};

// Runs `binary` with `args`, `input` on its standard input, and waits for
// it (killing it after five minutes). Its output goes through files in
// `scratch_dir`.
ProgramRun RunProgram(const std::string& binary, const std::vector<std::string>& args,
                      const std::string& input, const std::string& scratch_dir);

}  // namespace gridcase::testing

#endif  // GRIDCASE_TESTS_INTEGRATION_CHILD_SERVER_H_
