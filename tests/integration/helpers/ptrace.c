/* Attack helper: ptrace a process by pid.
 * "ptrace attach PID": PTRACE_ATTACH, then PTRACE_SEIZE; prints "attach ok"/"attach errno N"
 * and "seize ok"/"seize errno N" (detaching after a success), exits 0 either way.
 * "ptrace target": a process any tracer may attach to (PR_SET_PTRACER_ANY, for Yama's
 * ptrace_scope 1): prints "ready" and sleeps until killed. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef PR_SET_PTRACER
#define PR_SET_PTRACER 0x59616d61
#endif
#ifndef PR_SET_PTRACER_ANY
#define PR_SET_PTRACER_ANY ((unsigned long)-1)
#endif

static void try(const char *name, enum __ptrace_request request, pid_t pid) {
    if (ptrace(request, pid, 0, 0) == 0) {
        printf("%s ok\n", name);
        if (request == PTRACE_ATTACH) waitpid(pid, NULL, __WALL);
        ptrace(PTRACE_DETACH, pid, 0, 0);
    } else {
        printf("%s errno %d\n", name, errno);
    }
    fflush(stdout);
}

int main(int argc, char **argv) {
    if (argc == 2 && strcmp(argv[1], "target") == 0) {
        prctl(PR_SET_PTRACER, PR_SET_PTRACER_ANY, 0, 0, 0);
        printf("ready\n");
        fflush(stdout);
        for (;;) pause();
    }
    if (argc != 3 || strcmp(argv[1], "attach") != 0) {
        fprintf(stderr, "usage: ptrace attach PID | ptrace target\n");
        return 2;
    }
    pid_t pid = (pid_t)atoi(argv[2]);
    try("attach", PTRACE_ATTACH, pid);
    try("seize", PTRACE_SEIZE, pid);
    return 0;
}
