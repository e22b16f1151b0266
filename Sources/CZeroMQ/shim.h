// libzmq's stable C API. Implementation detail of Messaging, not public API.
#include <zmq.h>
