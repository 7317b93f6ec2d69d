/* Attack helper: the kernel keyrings, which bwrap does not separate.
 * "keyring add NAME DATA [PROGRAM ARGS...]": join a new session keyring (as a login does), add
 * a user key NAME to it, then exec PROGRAM (the victim session: e.g. claudebox).
 * "keyring find NAME": search the session, user and user-session keyrings; prints
 * "keyring found: DATA" or "keyring errno N". Exits 0 either way. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define KEYCTL_SEARCH 10
#define KEYCTL_READ 11
static const long RINGS[] = {-3, -4, -5}; /* session, user, user-session */

int main(int argc, char **argv) {
    if (argc >= 4 && strcmp(argv[1], "add") == 0) {
        syscall(SYS_keyctl, 1 /* JOIN_SESSION_KEYRING */, 0L);
        long id = syscall(SYS_add_key, "user", argv[2], argv[3], strlen(argv[3]), -3L);
        if (id < 0) printf("keyring errno %d\n", errno); else printf("keyring added %ld\n", id);
        fflush(stdout);
        if (argc > 4) execv(argv[4], argv + 4);
        return 0;
    }
    if (argc != 3 || strcmp(argv[1], "find") != 0) return 2;
    int last = 0;
    for (unsigned i = 0; i < sizeof RINGS / sizeof RINGS[0]; i++) {
        long id = syscall(SYS_keyctl, KEYCTL_SEARCH, RINGS[i], "user", argv[2], 0L);
        if (id < 0) { last = errno; continue; }
        char data[256] = {0};
        long got = syscall(SYS_keyctl, KEYCTL_READ, id, data, sizeof data - 1);
        if (got < 0) { last = errno; continue; }
        printf("keyring found: %s\n", data);
        return 0;
    }
    printf("keyring errno %d\n", last);
    return 0;
}
