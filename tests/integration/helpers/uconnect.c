/* Attack helper: connect to a unix stream socket and print the first line it sends.
 * "uconnect PATH" connects by path; "uconnect @NAME" to the abstract socket NAME.
 * Prints "uconnect ok: LINE" or "uconnect errno N" and exits 0 either way. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: uconnect PATH|@NAME\n");
        return 2;
    }
    struct sockaddr_un address;
    memset(&address, 0, sizeof address);
    address.sun_family = AF_UNIX;
    socklen_t length;
    if (argv[1][0] == '@') {
        size_t name = strlen(argv[1] + 1);
        if (name >= sizeof address.sun_path - 1) return 2;
        memcpy(address.sun_path + 1, argv[1] + 1, name);
        length = offsetof(struct sockaddr_un, sun_path) + 1 + name;
    } else {
        if (strlen(argv[1]) >= sizeof address.sun_path) return 2;
        strcpy(address.sun_path, argv[1]);
        length = sizeof address;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&address, length) != 0) {
        printf("uconnect errno %d\n", errno);
        return 0;
    }
    char line[128] = {0};
    ssize_t got = read(fd, line, sizeof line - 1);
    if (got > 0 && line[got - 1] == '\n') line[got - 1] = 0;
    printf("uconnect ok: %s\n", got > 0 ? line : "");
    return 0;
}
