/* Attack helper: "nftdel FAMILY TABLE" asks the kernel, in one nftables batch, to delete the
 * nftables table TABLE of FAMILY (2 = ip, 10 = ip6). Prints "nftdel ok" or "nftdel errno N"
 * (the kernel's answer to the delete); exits 0 either way. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static size_t message(char *at, int type, int flags, int family, int res_id, const char *name) {
    struct nlmsghdr *header = (struct nlmsghdr *)at;
    struct nfgenmsg *body = (struct nfgenmsg *)(header + 1);
    size_t length = NLMSG_LENGTH(sizeof *body);
    body->nfgen_family = family;
    body->version = NFNETLINK_V0;
    body->res_id = htons(res_id);
    if (name) {
        struct nlattr *attribute = (struct nlattr *)(at + length);
        attribute->nla_type = NFTA_TABLE_NAME;
        attribute->nla_len = NLA_HDRLEN + strlen(name) + 1;
        strcpy((char *)attribute + NLA_HDRLEN, name);
        length += NLA_ALIGN(attribute->nla_len);
    }
    header->nlmsg_len = length;
    header->nlmsg_type = type;
    header->nlmsg_flags = flags;
    header->nlmsg_seq = 1;
    return NLMSG_ALIGN(length);
}

int main(int argc, char **argv) {
    if (argc != 3) return 2;
    int fd = socket(AF_NETLINK, SOCK_RAW, NETLINK_NETFILTER);
    if (fd < 0) {
        printf("nftdel errno %d\n", errno);
        return 0;
    }
    char batch[512] = {0};
    size_t length = message(batch, NFNL_MSG_BATCH_BEGIN, NLM_F_REQUEST, 0, NFNL_SUBSYS_NFTABLES,
                            NULL);
    length += message(batch + length, (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_DELTABLE,
                      NLM_F_REQUEST | NLM_F_ACK, atoi(argv[1]), 0, argv[2]);
    length += message(batch + length, NFNL_MSG_BATCH_END, NLM_F_REQUEST, 0, NFNL_SUBSYS_NFTABLES,
                      NULL);
    if (send(fd, batch, length, 0) < 0) {
        printf("nftdel errno %d\n", errno);
        return 0;
    }
    struct timeval wait = {.tv_sec = 3};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof wait);
    char reply[4096];
    ssize_t got = recv(fd, reply, sizeof reply, 0);
    struct nlmsghdr *header = (struct nlmsghdr *)reply;
    if (got < (ssize_t)NLMSG_LENGTH(sizeof(struct nlmsgerr)) || header->nlmsg_type != NLMSG_ERROR) {
        printf("nftdel no answer\n");
        return 0;
    }
    int error = ((struct nlmsgerr *)NLMSG_DATA(header))->error;
    if (error)
        printf("nftdel errno %d\n", -error);
    else
        printf("nftdel ok\n");
    return 0;
}
