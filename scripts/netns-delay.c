/*
 * netns-delay: holds the packets of one NFQUEUE queue for a delay with jitter, then accepts them.
 *
 * For kernels without sch_netem (so `tc qdisc add ... netem` fails): scripts/netns-hosts.sh sends
 * a namespace's outgoing packets to this program with `iptables -j NFQUEUE --queue-num N` and
 * compiles it with gcc when it starts (it is not part of the Swift package).
 *
 * Usage: netns-delay QUEUE CONTROL-FILE SEED
 *   QUEUE         the NFQUEUE queue number (per network namespace)
 *   CONTROL-FILE  holds "DELAY_MS JITTER_MS": every packet is held DELAY ± JITTER ms (uniform),
 *                 never released before one queued earlier for the same destination address
 *                 (a flow keeps its order, as on a wire); read at start and again on SIGHUP, so a running link can be slowed down
 *   SEED          seeds the jitter
 * Prints "ready PID" on standard output once the queue is bound; exits on SIGTERM or SIGINT,
 * accepting every packet it still holds.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <libnetfilter_queue/libnetfilter_queue.h>
#include <linux/netfilter.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CAPACITY 65536
#define FLOWS 1024

/* Held packets: a binary min-heap on (release time, arrival order). */
static struct packet {
    int64_t release_ns;
    uint64_t order;
    uint32_t id;
} held[CAPACITY];
static size_t count;
static uint64_t arrivals;
/* The latest release time per destination address (hashed): a flow keeps its order. */
static struct {
    uint32_t address;
    int64_t release_ns;
} flows[FLOWS];

static int earlier(const struct packet *a, const struct packet *b) {
    return a->release_ns < b->release_ns || (a->release_ns == b->release_ns && a->order < b->order);
}

static void push(struct packet packet) {
    size_t i = count++;
    held[i] = packet;
    while (i > 0 && earlier(&held[i], &held[(i - 1) / 2])) {
        struct packet t = held[i];
        held[i] = held[(i - 1) / 2];
        held[(i - 1) / 2] = t;
        i = (i - 1) / 2;
    }
}

static struct packet pop(void) {
    struct packet top = held[0];
    held[0] = held[--count];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < count && earlier(&held[l], &held[m])) m = l;
        if (r < count && earlier(&held[r], &held[m])) m = r;
        if (m == i) break;
        struct packet t = held[i];
        held[i] = held[m];
        held[m] = t;
        i = m;
    }
    return top;
}

static double delay_ms, jitter_ms;
static uint64_t rng;
static const char *control_path;
static volatile sig_atomic_t reload = 1, stop;

static int64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* xorshift64*: a uniform double in [0, 1). */
static double uniform(void) {
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return (double)((rng * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}

static void read_control(void) {
    FILE *file = fopen(control_path, "r");
    double delay, jitter;
    if (!file || fscanf(file, "%lf %lf", &delay, &jitter) != 2 || delay < 0 || jitter < 0 || jitter > delay) {
        fprintf(stderr, "netns-delay: %s: expected \"DELAY_MS JITTER_MS\" with 0 <= JITTER <= DELAY\n", control_path);
        exit(2);
    }
    fclose(file);
    delay_ms = delay;
    jitter_ms = jitter;
}

static int on_packet(struct nfq_q_handle *queue, struct nfgenmsg *message, struct nfq_data *data, void *context) {
    (void)message;
    (void)context;
    struct nfqnl_msg_packet_hdr *header = nfq_get_msg_packet_hdr(data);
    if (!header) return 0;
    uint32_t id = ntohl(header->packet_id);
    if (count == CAPACITY) return nfq_set_verdict(queue, id, NF_DROP, 0, NULL); /* a full wire drops */
    unsigned char *payload;
    int length = nfq_get_payload(data, &payload);
    uint32_t address = 0;
    if (length >= 20 && (payload[0] >> 4) == 4) memcpy(&address, payload + 16, 4);
    size_t flow = (ntohl(address) * 2654435761u) % FLOWS;
    double ms = delay_ms + jitter_ms * (2 * uniform() - 1);
    int64_t release = now_ns() + (int64_t)(ms * 1e6);
    if (release < flows[flow].release_ns) release = flows[flow].release_ns;
    flows[flow].address = address;
    flows[flow].release_ns = release;
    push((struct packet){.release_ns = release, .order = arrivals++, .id = id});
    return 0;
}

static void on_signal(int signal) {
    if (signal == SIGHUP) reload = 1;
    else stop = 1;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: netns-delay QUEUE CONTROL-FILE SEED\n");
        return 2;
    }
    int queue_number = atoi(argv[1]);
    control_path = argv[2];
    rng = strtoull(argv[3], NULL, 10) * 0x9E3779B97F4A7C15ULL + 1;
    read_control();

    struct sigaction action = {0};
    action.sa_handler = on_signal;
    sigaction(SIGHUP, &action, NULL);
    sigaction(SIGTERM, &action, NULL);
    sigaction(SIGINT, &action, NULL);

    struct nfq_handle *handle = nfq_open();
    if (!handle) {
        perror("netns-delay: nfq_open");
        return 1;
    }
    struct nfq_q_handle *queue = nfq_create_queue(handle, (uint16_t)queue_number, on_packet, NULL);
    if (!queue) {
        fprintf(stderr, "netns-delay: cannot bind NFQUEUE queue %d: %s (is nfnetlink_queue in the kernel?)\n", queue_number,
                strerror(errno));
        return 1;
    }
    if (nfq_set_mode(queue, NFQNL_COPY_PACKET, 20) < 0 || nfq_set_queue_maxlen(queue, CAPACITY) < 0) {
        perror("netns-delay: configuring the queue");
        return 1;
    }
    int fd = nfq_fd(handle);
    int size = 8 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size);
    printf("ready %d\n", (int)getpid());
    fflush(stdout);

    static char buffer[65536] __attribute__((aligned));
    while (!stop) {
        if (reload) {
            reload = 0;
            read_control();
        }
        struct timespec timeout = {0, 0}, *until = NULL;
        if (count) {
            int64_t wait = held[0].release_ns - now_ns();
            if (wait > 0) timeout = (struct timespec){wait / 1000000000, wait % 1000000000};
            until = &timeout;
        }
        struct pollfd pollfd = {.fd = fd, .events = POLLIN};
        int ready = ppoll(&pollfd, 1, until, NULL);
        if (ready < 0 && errno != EINTR) {
            perror("netns-delay: ppoll");
            return 1;
        }
        if (ready > 0) {
            ssize_t n;
            while ((n = recv(fd, buffer, sizeof buffer, MSG_DONTWAIT)) > 0) nfq_handle_packet(handle, buffer, (int)n);
            if (n < 0 && errno == ENOBUFS) fprintf(stderr, "netns-delay: queue %d: lost notifications (ENOBUFS)\n", queue_number);
        }
        int64_t now = now_ns();
        while (count && held[0].release_ns <= now) nfq_set_verdict(queue, pop().id, NF_ACCEPT, 0, NULL);
    }
    while (count) nfq_set_verdict(queue, pop().id, NF_ACCEPT, 0, NULL);
    nfq_destroy_queue(queue);
    nfq_close(handle);
    return 0;
}
