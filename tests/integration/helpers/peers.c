/* Attack helper: the peer suites' kernel techniques (tests/redteam/test_rt_peers.py), one verdict
 * line each; exits 0 whatever the verdicts.
 *   io_uring PATH          IORING_OP_OPENAT of PATH through a new ring, then a read of it:
 *                          "io_uring read: LINE", "io_uring open errno N", "io_uring errno N"
 *   bpf                    BPF_PROG_LOAD of a socket filter, BPF_MAP_CREATE of an array
 *   userfaultfd            userfaultfd(0) and userfaultfd(UFFD_USER_MODE_ONLY)
 *   perf                   perf_event_open of a software clock: this process, then all of CPU 0
 *   handle PATH            name_to_handle_at: "handle TYPE HEX"
 *   byhandle DIR TYPE HEX  open_by_handle_at with DIR's mount: "byhandle read: LINE" or errno
 *   mount DIR RO_PATH      tmpfs on DIR, fsopen, open_tree, a read-write remount and an unmount
 *                          of RO_PATH, pivot_root onto DIR, chroot to /
 *   setns PID              setns into each of PID's namespaces that is not this process's
 *   sockets                AF_PACKET, raw IPv4/IPv6, ping and AF_VSOCK sockets
 *   vsock CID PORT         AF_VSOCK connect, then one line read
 *   tcp ADDRESS PORT       TCP connect to a numeric IPv4 or IPv6 address (3 s), one line read
 *   ping ADDRESS           ICMP echo through a ping socket, then a raw socket (2 s each)
 *   ids                    "ids uid R euid E"
 *   mknod PATH             a character device (1,3) and a block device (7,0) at PATH
 * Verdicts: "NAME ok[...]" or "NAME errno N". */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/io_uring.h>
#include <linux/perf_event.h>
#include <linux/userfaultfd.h>
#include <linux/vm_sockets.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#ifndef SYS_fsopen
#define SYS_fsopen 430
#endif
#ifndef SYS_open_tree
#define SYS_open_tree 428
#endif
#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif

static void verdict(const char *name, long result) {
    if (result < 0) printf("%s errno %d\n", name, errno);
    else printf("%s ok\n", name);
}

static void first_line(const char *name, int fd) {
    char line[256] = {0};
    ssize_t got = read(fd, line, sizeof line - 1);
    if (got < 0) { printf("%s errno %d\n", name, errno); return; }
    line[strcspn(line, "\n")] = 0;
    printf("%s read: %s\n", name, line);
}

static void io_uring(const char *path) {
    struct io_uring_params params;
    memset(&params, 0, sizeof params);
    int ring = (int)syscall(SYS_io_uring_setup, 4, &params);
    if (ring < 0) { printf("io_uring errno %d\n", errno); return; }
    size_t sq_size = params.sq_off.array + params.sq_entries * sizeof(unsigned);
    size_t cq_size = params.cq_off.cqes + params.cq_entries * sizeof(struct io_uring_cqe);
    char *sq = mmap(0, sq_size, PROT_READ | PROT_WRITE, MAP_SHARED, ring, IORING_OFF_SQ_RING);
    char *cq = mmap(0, cq_size, PROT_READ | PROT_WRITE, MAP_SHARED, ring, IORING_OFF_CQ_RING);
    struct io_uring_sqe *sqes = mmap(0, params.sq_entries * sizeof(struct io_uring_sqe),
                                     PROT_READ | PROT_WRITE, MAP_SHARED, ring, IORING_OFF_SQES);
    if (sq == MAP_FAILED || cq == MAP_FAILED || sqes == MAP_FAILED) {
        printf("io_uring mmap errno %d\n", errno);
        return;
    }
    unsigned *tail = (unsigned *)(sq + params.sq_off.tail);
    unsigned mask = *(unsigned *)(sq + params.sq_off.ring_mask);
    unsigned index = *tail & mask;
    memset(&sqes[index], 0, sizeof sqes[index]);
    sqes[index].opcode = IORING_OP_OPENAT;
    sqes[index].fd = AT_FDCWD;
    sqes[index].addr = (unsigned long)path;
    sqes[index].open_flags = O_RDONLY;
    ((unsigned *)(sq + params.sq_off.array))[index] = index;
    __atomic_store_n(tail, *tail + 1, __ATOMIC_RELEASE);
    if (syscall(SYS_io_uring_enter, ring, 1, 1, IORING_ENTER_GETEVENTS, NULL, 0) < 0) {
        printf("io_uring enter errno %d\n", errno);
        return;
    }
    unsigned head = __atomic_load_n((unsigned *)(cq + params.cq_off.head), __ATOMIC_ACQUIRE);
    unsigned cq_mask = *(unsigned *)(cq + params.cq_off.ring_mask);
    struct io_uring_cqe *cqe = (struct io_uring_cqe *)(cq + params.cq_off.cqes) + (head & cq_mask);
    if (cqe->res < 0) { printf("io_uring open errno %d\n", -cqe->res); return; }
    first_line("io_uring", cqe->res);
}

static long bpf(int command, union bpf_attr *attr) {
    return syscall(SYS_bpf, command, attr, sizeof *attr);
}

static void bpf_calls(void) {
    struct bpf_insn program[] = {
        {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0},
        {.code = BPF_JMP | BPF_EXIT},
    };
    union bpf_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.prog_type = BPF_PROG_TYPE_SOCKET_FILTER;
    attr.insns = (unsigned long)program;
    attr.insn_cnt = 2;
    attr.license = (unsigned long)"GPL";
    verdict("bpf-prog", bpf(BPF_PROG_LOAD, &attr));
    memset(&attr, 0, sizeof attr);
    attr.map_type = BPF_MAP_TYPE_ARRAY;
    attr.key_size = 4;
    attr.value_size = 4;
    attr.max_entries = 1;
    verdict("bpf-map", bpf(BPF_MAP_CREATE, &attr));
}

static void perf(void) {
    struct perf_event_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.size = sizeof attr;
    attr.type = PERF_TYPE_SOFTWARE;
    attr.config = PERF_COUNT_SW_CPU_CLOCK;
    attr.exclude_kernel = 1;
    verdict("perf-self", syscall(SYS_perf_event_open, &attr, 0, -1, -1, 0));
    verdict("perf-cpu", syscall(SYS_perf_event_open, &attr, -1, 0, -1, 0));
}

static void handle(const char *path) {
    static union { struct file_handle head; unsigned char bytes[sizeof(struct file_handle) + 128]; } h;
    unsigned char *bytes = h.bytes + sizeof(struct file_handle);
    int mount_id;
    h.head.handle_bytes = 128;
    if (name_to_handle_at(AT_FDCWD, path, &h.head, &mount_id, 0) < 0) {
        printf("handle errno %d\n", errno);
        return;
    }
    printf("handle %d ", h.head.handle_type);
    for (unsigned i = 0; i < h.head.handle_bytes; i++) printf("%02x", bytes[i]);
    printf("\n");
}

static void by_handle(const char *dir, const char *type, const char *hex) {
    static union { struct file_handle head; unsigned char bytes[sizeof(struct file_handle) + 128]; } h;
    unsigned char *bytes = h.bytes + sizeof(struct file_handle);
    size_t length = strlen(hex) / 2;
    if (length > 128) length = 128;
    h.head.handle_bytes = (unsigned)length;
    h.head.handle_type = atoi(type);
    for (size_t i = 0; i < length; i++) sscanf(hex + 2 * i, "%2hhx", &bytes[i]);
    int mount_fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (mount_fd < 0) { printf("byhandle mount errno %d\n", errno); return; }
    int fd = open_by_handle_at(mount_fd, &h.head, O_RDONLY);
    if (fd < 0) { printf("byhandle errno %d\n", errno); return; }
    first_line("byhandle", fd);
}

static void mounts(const char *dir, const char *read_only) {
    verdict("mount-tmpfs", mount("none", dir, "tmpfs", 0, NULL));
    verdict("fsopen", syscall(SYS_fsopen, "tmpfs", 0));
    verdict("open_tree", syscall(SYS_open_tree, AT_FDCWD, read_only, 1 /* OPEN_TREE_CLONE */));
    verdict("remount-rw", mount(NULL, read_only, NULL, MS_REMOUNT | MS_BIND, NULL));
    verdict("umount", umount2(read_only, MNT_DETACH));
    verdict("pivot_root", syscall(SYS_pivot_root, dir, dir));
    verdict("chroot", chroot("/"));
}

static void namespaces(const char *pid) {
    const char *kinds[] = {"user", "mnt", "net", "pid", "ipc", "uts", "cgroup", "time"};
    for (unsigned i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        char theirs[64], ours[64], name[32];
        struct stat a, b;
        snprintf(theirs, sizeof theirs, "/proc/%s/ns/%s", pid, kinds[i]);
        snprintf(ours, sizeof ours, "/proc/self/ns/%s", kinds[i]);
        snprintf(name, sizeof name, "setns-%s", kinds[i]);
        if (stat(theirs, &a) < 0) { printf("%s stat errno %d\n", name, errno); continue; }
        if (stat(ours, &b) == 0 && a.st_ino == b.st_ino) { printf("%s same\n", name); continue; }
        int fd = open(theirs, O_RDONLY);
        if (fd < 0) { printf("%s open errno %d\n", name, errno); continue; }
        verdict(name, setns(fd, 0));
    }
}

static void sockets(void) {
    verdict("packet", socket(AF_PACKET, SOCK_RAW, htons(3 /* ETH_P_ALL */)));
    verdict("raw4", socket(AF_INET, SOCK_RAW, IPPROTO_ICMP));
    verdict("raw6", socket(AF_INET6, SOCK_RAW, IPPROTO_ICMPV6));
    verdict("ping4", socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP));
    verdict("vsock", socket(AF_VSOCK, SOCK_STREAM, 0));
}

static void read_reply(const char *name, int fd) {
    struct pollfd ready = {.fd = fd, .events = POLLIN};
    if (poll(&ready, 1, 3000) <= 0) { printf("%s timeout\n", name); return; }
    first_line(name, fd);
}

static void vsock(const char *cid, const char *port) {
    int fd = socket(AF_VSOCK, SOCK_STREAM, 0);
    if (fd < 0) { printf("vsock errno %d\n", errno); return; }
    struct sockaddr_vm address = {.svm_family = AF_VSOCK};
    address.svm_cid = (unsigned)strtoul(cid, NULL, 10);
    address.svm_port = (unsigned)strtoul(port, NULL, 10);
    if (connect(fd, (struct sockaddr *)&address, sizeof address) < 0) {
        printf("vsock errno %d\n", errno);
        return;
    }
    read_reply("vsock", fd);
}

static void tcp(const char *host, const char *port) {
    struct addrinfo hints = {.ai_flags = AI_NUMERICHOST, .ai_socktype = SOCK_STREAM}, *found;
    if (getaddrinfo(host, port, &hints, &found) != 0) { printf("tcp bad address\n"); return; }
    int fd = socket(found->ai_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0) { printf("tcp errno %d\n", errno); return; }
    if (connect(fd, found->ai_addr, found->ai_addrlen) < 0 && errno != EINPROGRESS) {
        printf("tcp errno %d\n", errno);
        return;
    }
    struct pollfd out = {.fd = fd, .events = POLLOUT};
    if (poll(&out, 1, 3000) <= 0) { printf("tcp timeout\n"); return; }
    int error = 0;
    socklen_t size = sizeof error;
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &size);
    if (error) { printf("tcp errno %d\n", error); return; }
    fcntl(fd, F_SETFL, 0);
    read_reply("tcp", fd);
}

static void ping_with(const char *name, int type, const char *host) {
    struct sockaddr_in address = {.sin_family = AF_INET};
    inet_pton(AF_INET, host, &address.sin_addr);
    int fd = socket(AF_INET, type, IPPROTO_ICMP);
    if (fd < 0) { printf("%s errno %d\n", name, errno); return; }
    struct icmphdr echo = {.type = ICMP_ECHO};
    echo.un.echo.id = htons(0x4242);
    echo.un.echo.sequence = htons(1);
    unsigned sum = 0;
    unsigned short *word = (unsigned short *)&echo;
    for (unsigned i = 0; i < sizeof echo / 2; i++) sum += word[i];
    echo.checksum = (unsigned short)~((sum & 0xffff) + (sum >> 16));
    if (sendto(fd, &echo, sizeof echo, 0, (struct sockaddr *)&address, sizeof address) < 0) {
        printf("%s errno %d\n", name, errno);
        return;
    }
    struct pollfd ready = {.fd = fd, .events = POLLIN};
    printf("%s %s\n", name, poll(&ready, 1, 2000) > 0 ? "reply" : "timeout");
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *what = argc > 1 ? argv[1] : "";
    if (strcmp(what, "io_uring") == 0 && argc == 3) io_uring(argv[2]);
    else if (strcmp(what, "bpf") == 0) bpf_calls();
    else if (strcmp(what, "userfaultfd") == 0) {
        verdict("userfaultfd", syscall(SYS_userfaultfd, O_CLOEXEC));
        verdict("userfaultfd-user", syscall(SYS_userfaultfd, O_CLOEXEC | UFFD_USER_MODE_ONLY));
    } else if (strcmp(what, "perf") == 0) perf();
    else if (strcmp(what, "handle") == 0 && argc == 3) handle(argv[2]);
    else if (strcmp(what, "byhandle") == 0 && argc == 5) by_handle(argv[2], argv[3], argv[4]);
    else if (strcmp(what, "mount") == 0 && argc == 4) mounts(argv[2], argv[3]);
    else if (strcmp(what, "setns") == 0 && argc == 3) namespaces(argv[2]);
    else if (strcmp(what, "sockets") == 0) sockets();
    else if (strcmp(what, "vsock") == 0 && argc == 4) vsock(argv[2], argv[3]);
    else if (strcmp(what, "tcp") == 0 && argc == 4) tcp(argv[2], argv[3]);
    else if (strcmp(what, "ping") == 0 && argc == 3) {
        ping_with("ping-socket", SOCK_DGRAM, argv[2]);
        ping_with("ping-raw", SOCK_RAW, argv[2]);
    } else if (strcmp(what, "ids") == 0) printf("ids uid %d euid %d\n", getuid(), geteuid());
    else if (strcmp(what, "mknod") == 0 && argc == 3) {
        verdict("mknod-char", mknod(argv[2], S_IFCHR | 0600, makedev(1, 3)));
        verdict("mknod-block", mknod(argv[2], S_IFBLK | 0600, makedev(7, 0)));
    } else {
        fprintf(stderr, "peers: unknown technique or arguments\n");
        return 2;
    }
    return 0;
}
