#include "CResolver.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netinet/in.h>
#include <resolv.h>
#include <string.h>

int suite_resolve_srv(const char *name, const char *server, int port, int timeout_seconds, unsigned char *answer, int length) {
    // A resolver state of our own per call: res_nquery is then safe on any thread.
    struct __res_state state;
    memset(&state, 0, sizeof state);
    if (res_ninit(&state) != 0) return -1;
    state.options |= RES_USE_EDNS0;
    if (server != NULL) {
        struct sockaddr_in address;
        memset(&address, 0, sizeof address);
        address.sin_family = AF_INET;
        address.sin_port = htons((unsigned short)port);
        if (inet_pton(AF_INET, server, &address.sin_addr) != 1) {
            res_nclose(&state);
            return -1;
        }
        // glibc notices the changed list and uses it (resolv_conf_matches).
        state.nsaddr_list[0] = address;
        state.nscount = 1;
        state.retry = 1;
    }
    if (timeout_seconds > 0) state.retrans = timeout_seconds;
    int count = res_nquery(&state, name, ns_c_in, ns_t_srv, answer, length);
    res_nclose(&state);
    return count;
}
