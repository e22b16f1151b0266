// The time of a round trip of one message of SIZE bytes each way between two processes over
// ZeroMQ ipc (a ROUTER that sends and a DEALER that echoes, copying each message out as emfleet
// does): the transport floor of a training step (docs/BENCHMARKS.md, "Two workers on two cores").
// Build: cc -O2 zmq_round_trip.c -o zmq_round_trip -lzmq
// Usage: zmq_round_trip server SIZE ENDPOINT & zmq_round_trip client SIZE ENDPOINT
//        (e.g. SIZE 940584, ENDPOINT ipc:///tmp/emfleet-round-trip)
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }

int main(int argc, char **argv) {
    if (argc != 4) { fprintf(stderr, "usage: %s server|client SIZE ENDPOINT\n", argv[0]); return 2; }
    const int size = atoi(argv[2]), trips = 500;
    void *context = zmq_ctx_new();
    char *data = malloc(size);
    memset(data, 1, size);
    zmq_msg_t message;
    if (strcmp(argv[1], "server") == 0) {
        void *socket = zmq_socket(context, ZMQ_ROUTER);
        if (zmq_bind(socket, argv[3]) != 0) { perror("zmq_bind"); return 1; }
        char identity[256];
        int identityBytes = zmq_recv(socket, identity, sizeof identity, 0);
        zmq_msg_init(&message); zmq_msg_recv(&message, socket, 0); zmq_msg_close(&message);
        const double start = now();
        for (int i = 0; i < trips; i++) {
            zmq_send(socket, identity, identityBytes, ZMQ_SNDMORE);
            zmq_send(socket, data, size, 0);
            zmq_recv(socket, identity, sizeof identity, 0);
            zmq_msg_init(&message); zmq_msg_recv(&message, socket, 0);
            memcpy(data, zmq_msg_data(&message), zmq_msg_size(&message));
            zmq_msg_close(&message);
        }
        printf("%d bytes each way: %.3f ms per round trip (%d trips)\n", size, (now() - start) / trips * 1e3, trips);
        zmq_close(socket);
    } else {
        void *socket = zmq_socket(context, ZMQ_DEALER);
        if (zmq_connect(socket, argv[3]) != 0) { perror("zmq_connect"); return 1; }
        zmq_send(socket, "hello", 5, 0);
        for (int i = 0; i < trips; i++) {
            zmq_msg_init(&message); zmq_msg_recv(&message, socket, 0);
            memcpy(data, zmq_msg_data(&message), zmq_msg_size(&message));
            zmq_msg_close(&message);
            zmq_send(socket, data, size, 0);
        }
        zmq_close(socket);  // with the default linger, the last reply is delivered before the exit
    }
    zmq_ctx_term(context);
    return 0;
}
