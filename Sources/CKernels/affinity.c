// The process's CPU affinity: sched_getaffinity and sched_setaffinity need _GNU_SOURCE, and their
// cpu_set_t macros are not visible from Swift; so does memfd_create (shared-memory rings). Kept
// apart from kernels.c so that the feature macro changes nothing there.
#define _GNU_SOURCE
#include "emfleet_kernels.h"
#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

long emfleet_allowed_cpus(int *cpus, long capacity) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) != 0) return -1;
    long count = 0;
    for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
        if (!CPU_ISSET(cpu, &set)) continue;
        if (count < capacity) cpus[count] = cpu;
        count++;
    }
    return count;
}

int emfleet_pin_process(const int *cpus, long count) {
    cpu_set_t set;
    CPU_ZERO(&set);
    for (long i = 0; i < count; i++) {
        if (cpus[i] < 0 || cpus[i] >= CPU_SETSIZE) return -1;
        CPU_SET(cpus[i], &set);
    }
    // Threads started before this call (OpenBLAS's pool, libzmq's I/O thread) keep their own
    // mask unless each is set; threads started later inherit the calling thread's.
    DIR *tasks = opendir("/proc/self/task");
    if (tasks) {
        const pid_t self = (pid_t)syscall(SYS_gettid);
        for (struct dirent *entry; (entry = readdir(tasks)) != NULL;) {
            const pid_t thread = (pid_t)atoi(entry->d_name);
            if (thread > 0 && thread != self) sched_setaffinity(thread, sizeof set, &set);
        }
        closedir(tasks);
    }
    return sched_setaffinity(0, sizeof set, &set);
}

int emfleet_shared_memory_file(const char *name, long bytes) {
    const int descriptor = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (descriptor < 0) return -1;
    if (ftruncate(descriptor, (off_t)bytes) != 0
        || fcntl(descriptor, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0) {
        close(descriptor);
        return -1;
    }
    return descriptor;
}

int emfleet_shared_memory_sealed(int descriptor) {
    const int seals = fcntl(descriptor, F_GET_SEALS);
    if (seals < 0) return -1;
    return (seals & F_SEAL_SHRINK) != 0;
}
