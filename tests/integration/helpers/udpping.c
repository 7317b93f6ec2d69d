/* Attack helper: "udpping ADDRESS PORT" sends "ping" over UDP and waits 2 s for one reply.
 * Prints "udpping reply: DATA", "udpping timeout" or "udpping errno N"; exits 0 either way. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc != 3) return 2;
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[2]))};
    if (inet_pton(AF_INET, argv[1], &address.sin_addr) != 1) return 2;
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct timeval wait = {.tv_sec = 2};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof wait);
    if (sendto(fd, "ping", 4, 0, (struct sockaddr *)&address, sizeof address) < 0) {
        printf("udpping errno %d\n", errno);
        return 0;
    }
    char reply[128] = {0};
    ssize_t got = recv(fd, reply, sizeof reply - 1, 0);
    if (got >= 0)
        printf("udpping reply: %s\n", reply);
    else if (errno == EAGAIN || errno == EWOULDBLOCK)
        printf("udpping timeout\n");
    else
        printf("udpping errno %d\n", errno);
    return 0;
}
