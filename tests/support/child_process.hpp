// A child process for the crash tests: started with its standard output on a pipe the
// parent reads, so the test can kill it and read what it said it had done.
#pragma once

#include <unistd.h>

#include <string>
#include <vector>

#include "mmsb/assert.hpp"

namespace mmsb::test {

struct ChildProcess {
  pid_t pid = -1;
  int output = -1;  // the read end of the child's standard output
};

// Runs `program` with `args` (argv[1..]).
inline ChildProcess spawn_child(const char* program, const std::vector<std::string>& args) {
  // Built before fork: the child of a threaded process may not allocate.
  std::vector<char*> argv{const_cast<char*>(program)};
  for (const std::string& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  int pipe_fds[2];
  MMSB_ASSERT(::pipe(pipe_fds) == 0);
  const pid_t pid = ::fork();
  MMSB_ASSERT(pid >= 0);
  if (pid == 0) {
    ::dup2(pipe_fds[1], STDOUT_FILENO);
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);
    ::execv(program, argv.data());
    ::_exit(127);
  }
  ::close(pipe_fds[1]);
  return ChildProcess{pid, pipe_fds[0]};
}

}  // namespace mmsb::test
