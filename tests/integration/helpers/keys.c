/* Attack helper: the kernel keyrings by serial number (what /proc/keys lists), with the raw
 * system calls (busybox has no keyctl). Runs its operations in order, one line each, exit 0:
 *   id RING              the serial of RING (@s @u @us): "keys id SERIAL"
 *   newsession           join a new anonymous session keyring: "keys session SERIAL"
 *   session NAME         join the session keyring NAME (made if absent): "keys session SERIAL"
 *   add RING NAME DATA   add_key a user key to RING (a serial, @s @u or @us): "keys added SERIAL"
 *   link SERIAL          link SERIAL into the session keyring (possession): "keys linked SERIAL"
 *   read SERIAL          "keys read SERIAL: DATA"
 *   request NAME         request_key a user key NAME: "keys requested SERIAL"
 *   unlink SERIAL RING   "keys unlinked SERIAL"
 *   exec PROGRAM ARGS…   exec PROGRAM with the rest of the arguments
 * A failed call prints "keys errno N" instead. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define KEYCTL_GET_KEYRING_ID 0
#define KEYCTL_JOIN_SESSION_KEYRING 1
#define KEYCTL_LINK 8
#define KEYCTL_UNLINK 9
#define KEYCTL_READ 11

static long serial(const char *word) {
    if (strcmp(word, "@s") == 0) return -3;
    if (strcmp(word, "@u") == 0) return -4;
    if (strcmp(word, "@us") == 0) return -5;
    return strtol(word, NULL, 0);
}

static void report(long got, const char *what, const char *name) {
    if (got < 0) printf("keys errno %d\n", errno);
    else if (name) printf("keys %s %s\n", what, name);
    else printf("keys %s %ld\n", what, got);
    fflush(stdout);
}

int main(int argc, char **argv) {
    int i = 1;
    while (i < argc) {
        const char *op = argv[i];
        if (strcmp(op, "id") == 0 && i + 1 < argc) {
            report(syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, serial(argv[i + 1]), 0L), "id", NULL);
            i += 2;
        } else if (strcmp(op, "newsession") == 0) {
            report(syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, 0L), "session", NULL);
            i += 1;
        } else if (strcmp(op, "session") == 0 && i + 1 < argc) {
            report(syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, argv[i + 1]), "session", NULL);
            i += 2;
        } else if (strcmp(op, "add") == 0 && i + 3 < argc) {
            const char *data = argv[i + 3];
            long got = syscall(SYS_add_key, "user", argv[i + 2], data, strlen(data),
                               serial(argv[i + 1]));
            report(got, "added", NULL);
            i += 4;
        } else if (strcmp(op, "link") == 0 && i + 1 < argc) {
            report(syscall(SYS_keyctl, KEYCTL_LINK, serial(argv[i + 1]), -3L), "linked",
                   argv[i + 1]);
            i += 2;
        } else if (strcmp(op, "read") == 0 && i + 1 < argc) {
            char data[256] = {0};
            long got = syscall(SYS_keyctl, KEYCTL_READ, serial(argv[i + 1]), data,
                               sizeof data - 1);
            if (got < 0) printf("keys errno %d\n", errno);
            else printf("keys read %s: %s\n", argv[i + 1], data);
            fflush(stdout);
            i += 2;
        } else if (strcmp(op, "request") == 0 && i + 1 < argc) {
            report(syscall(SYS_request_key, "user", argv[i + 1], NULL, 0L), "requested", NULL);
            i += 2;
        } else if (strcmp(op, "unlink") == 0 && i + 2 < argc) {
            report(syscall(SYS_keyctl, KEYCTL_UNLINK, serial(argv[i + 1]), serial(argv[i + 2])),
                   "unlinked", argv[i + 1]);
            i += 3;
        } else if (strcmp(op, "exec") == 0 && i + 1 < argc) {
            execv(argv[i + 1], argv + i + 1);
            printf("keys errno %d\n", errno);
            return 0;
        } else {
            fprintf(stderr, "keys: cannot parse %s\n", op);
            return 2;
        }
    }
    return 0;
}
