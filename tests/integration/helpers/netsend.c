/* Attack helper: "netsend TAG ADDRESS PORT MODE..." tries to reach ADDRESS:PORT once per MODE,
 * in ways the kernel routes without (or around) a route lookup:
 *   plain             UDP sendto, nothing special
 *   multicast-if      UDP with IP_MULTICAST_IF set to the first non-loopback interface
 *   device            UDP with SO_BINDTODEVICE to the first non-loopback interface
 *   device=NAME       the same, to interface NAME
 *   source            UDP bound to the first non-loopback interface's IPv4 address first
 *   pktinfo           UDP sendmsg with an IP_PKTINFO naming the first non-loopback interface
 *   broadcast         UDP with SO_BROADCAST
 *   broadcast-device  UDP with SO_BROADCAST and SO_BINDTODEVICE
 *   tcp-device        TCP connect with SO_BINDTODEVICE (3 s), then one line read (3 s)
 *   tcp-device=NAME   the same, to interface NAME
 * A UDP payload is "TAG MODE". Prints one line per MODE: "MODE sent", "MODE reply: LINE",
 * "MODE timeout" or "MODE errno N"; exits 0. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static char first_device[IF_NAMESIZE];
static struct in_addr first_address;

static void find_first_device(void) {
    struct ifaddrs *all, *entry;
    if (getifaddrs(&all) != 0) return;
    for (entry = all; entry; entry = entry->ifa_next) {
        if (!entry->ifa_addr || entry->ifa_addr->sa_family != AF_INET) continue;
        if (strcmp(entry->ifa_name, "lo") == 0) continue;
        snprintf(first_device, sizeof first_device, "%s", entry->ifa_name);
        first_address = ((struct sockaddr_in *)entry->ifa_addr)->sin_addr;
        break;
    }
    freeifaddrs(all);
}

static const char *device_of(const char *mode) {
    const char *equals = strchr(mode, '=');
    return equals ? equals + 1 : first_device;
}

static int report_errno(const char *mode) {
    printf("%s errno %d\n", mode, errno);
    return 0;
}

static void tcp_device(const char *mode, struct sockaddr_in *target) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    const char *device = device_of(mode);
    if (setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, device, strlen(device)) < 0) {
        report_errno(mode);
        close(fd);
        return;
    }
    fcntl(fd, F_SETFL, O_NONBLOCK);
    if (connect(fd, (struct sockaddr *)target, sizeof *target) < 0 && errno != EINPROGRESS) {
        report_errno(mode);
        close(fd);
        return;
    }
    struct pollfd wait = {.fd = fd, .events = POLLOUT};
    if (poll(&wait, 1, 3000) != 1) {
        printf("%s timeout\n", mode);
        close(fd);
        return;
    }
    int error = 0;
    socklen_t size = sizeof error;
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &size);
    if (error) {
        printf("%s errno %d\n", mode, error);
        close(fd);
        return;
    }
    wait.events = POLLIN;
    char reply[128] = {0};
    if (poll(&wait, 1, 3000) == 1 && read(fd, reply, sizeof reply - 1) > 0) {
        reply[strcspn(reply, "\n")] = 0;
        printf("%s reply: %s\n", mode, reply);
    } else {
        printf("%s connected, no reply\n", mode);
    }
    close(fd);
}

static void udp(const char *tag, const char *mode, struct sockaddr_in *target) {
    int fd = socket(AF_INET, SOCK_DGRAM, 0), on = 1;
    char payload[256];
    snprintf(payload, sizeof payload, "%s %s", tag, mode);
    int failed = 0;
    if (strncmp(mode, "broadcast", 9) == 0)
        failed |= setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &on, sizeof on) < 0;
    if (strncmp(mode, "device", 6) == 0 || strcmp(mode, "broadcast-device") == 0) {
        const char *device = device_of(mode);
        failed |= setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, device, strlen(device)) < 0;
    }
    if (strcmp(mode, "multicast-if") == 0)
        failed |= setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &first_address,
                             sizeof first_address) < 0;
    if (strcmp(mode, "source") == 0) {
        struct sockaddr_in source = {.sin_family = AF_INET, .sin_addr = first_address};
        failed |= bind(fd, (struct sockaddr *)&source, sizeof source) < 0;
    }
    if (failed) {
        report_errno(mode);
        close(fd);
        return;
    }
    ssize_t sent;
    if (strcmp(mode, "pktinfo") == 0) {
        char control[CMSG_SPACE(sizeof(struct in_pktinfo))] = {0};
        struct iovec data = {.iov_base = payload, .iov_len = strlen(payload)};
        struct msghdr message = {
            .msg_name = target,
            .msg_namelen = sizeof *target,
            .msg_iov = &data,
            .msg_iovlen = 1,
            .msg_control = control,
            .msg_controllen = sizeof control,
        };
        struct cmsghdr *header = CMSG_FIRSTHDR(&message);
        header->cmsg_level = IPPROTO_IP;
        header->cmsg_type = IP_PKTINFO;
        header->cmsg_len = CMSG_LEN(sizeof(struct in_pktinfo));
        struct in_pktinfo info = {.ipi_ifindex = (int)if_nametoindex(first_device)};
        memcpy(CMSG_DATA(header), &info, sizeof info);
        sent = sendmsg(fd, &message, 0);
    } else {
        sent = sendto(fd, payload, strlen(payload), 0, (struct sockaddr *)target, sizeof *target);
    }
    if (sent < 0)
        report_errno(mode);
    else
        printf("%s sent\n", mode);
    close(fd);
}

int main(int argc, char **argv) {
    if (argc < 5) return 2;
    struct sockaddr_in target = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[3]))};
    if (inet_pton(AF_INET, argv[2], &target.sin_addr) != 1) return 2;
    find_first_device();
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (int i = 4; i < argc; i++) {
        if (strncmp(argv[i], "tcp-device", 10) == 0)
            tcp_device(argv[i], &target);
        else
            udp(argv[1], argv[i], &target);
    }
    return 0;
}
