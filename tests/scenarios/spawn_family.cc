// spawn_family.cc — the other ways to start a process keep working under the shim:
// system(), posix_spawn() and vfork()+exec. Their children's exit statuses are summed into
// this program's status (2 + 3 + 4 = 9), which `run` must pass through unchanged. No process
// of the family takes a lock, so none of them leaves a dump (a process makes its dump at its
// first lock operation).
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

int main() {
  int total = 0;
  int st = system("exit 2");
  total += WIFEXITED(st) ? WEXITSTATUS(st) : 100;

  pid_t pid;
  char* argv[] = {const_cast<char*>("sh"), const_cast<char*>("-c"), const_cast<char*>("exit 3"),
                  nullptr};
  if (posix_spawn(&pid, "/bin/sh", nullptr, nullptr, argv, environ) == 0 &&
      waitpid(pid, &st, 0) == pid)
    total += WIFEXITED(st) ? WEXITSTATUS(st) : 100;
  else
    total += 100;

  pid = vfork();
  if (pid == 0) {
    execl("/bin/sh", "sh", "-c", "exit 4", static_cast<char*>(nullptr));
    _exit(127);
  }
  waitpid(pid, &st, 0);
  total += WIFEXITED(st) ? WEXITSTATUS(st) : 100;
  return total;
}
