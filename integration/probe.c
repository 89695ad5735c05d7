/* A static test helper run inside containers: each argument names a syscall to try; it
 * prints NAME=0 on success or NAME=ERRNONAME. "i386-mkdir" uses the i386 ABI (int 0x80)
 * from this 64-bit process, to check that compat syscalls get the profile's answer. */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <stdlib.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static void report(const char *name, long ret) {
    if (ret < 0) printf("%s=%s\n", name, strerrorname_np(errno));
    else printf("%s=0\n", name);
    fflush(stdout);
}

static long i386_syscall2(long nr, long a, long b) {
    long ret;
    __asm__ volatile("int $0x80" : "=a"(ret) : "a"(nr), "b"(a), "c"(b) : "memory");
    if (ret < 0 && ret > -4096) { errno = -ret; return -1; }
    return ret;
}

int main(int argc, char **argv) {
    static char dir[] = "/tmp/probe-i386";
    for (int i = 1; i < argc; i++) {
        const char *t = argv[i];
        if (!strcmp(t, "keyctl")) report(t, syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -3, 0));
        else if (!strcmp(t, "ptrace")) report(t, ptrace(PTRACE_TRACEME, 0, 0, 0));
        else if (!strcmp(t, "unshare")) report(t, unshare(CLONE_NEWUTS));
        else if (!strcmp(t, "mount")) report(t, mount("none", "/tmp", "tmpfs", 0, 0));
        else if (!strcmp(t, "mkdir")) report(t, mkdir("/tmp/probe-native", 0755));
        else if (!strcmp(t, "i386-mkdir")) report(t, i386_syscall2(39 /* i386 mkdir */, (long)dir, 0755));
        else if (!strcmp(t, "getpid")) report(t, getpid());
        else if (!strcmp(t, "accept3")) {
            /* socket activation: accept one connection on the inherited fd 3 */
            int c = accept(3, 0, 0);
            if (c >= 0) { dprintf(c, "hello from pid %d, LISTEN_PID=%s\n", getpid(), getenv("LISTEN_PID")); close(c); }
            report(t, c);
        }
        else if (!strcmp(t, "notify")) {
            /* sd_notify: READY=1 to $NOTIFY_SOCKET */
            struct sockaddr_un a = {.sun_family = AF_UNIX};
            const char *p = getenv("NOTIFY_SOCKET");
            int s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
            strncpy(a.sun_path, p ? p : "", sizeof(a.sun_path) - 1);
            report(t, sendto(s, "STATUS=starting\nREADY=1", 23, 0, (struct sockaddr *)&a, sizeof(a)));
        }
        else if (!strcmp(t, "kcmp")) report(t, syscall(SYS_kcmp, getpid(), getpid(), 0 /* KCMP_FILE */, 1, 1));
        else if (!strcmp(t, "personality-ok")) report(t, syscall(SYS_personality, 0xffffffffUL));
        else if (!strcmp(t, "personality-bad")) report(t, syscall(SYS_personality, 0x0040000UL));
        else if (!strcmp(t, "i386-personality-bad")) report(t, i386_syscall2(136 /* i386 personality */, 0x0040000, 0));
        /* "nr-N": syscall number N with zero arguments (one no kernel has, say). */
        else if (!strncmp(t, "nr-", 3)) report(t, syscall(atol(t + 3), 0, 0, 0, 0, 0, 0));
        else { printf("%s=unknown\n", t); return 2; }
    }
    return 0;
}
