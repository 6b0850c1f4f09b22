#ifndef SUITE_CRESOLVER_H
#define SUITE_CRESOLVER_H

/// Asks the system resolver (glibc's res_nquery, configured by /etc/resolv.conf: its
/// name servers, timeout, attempts and rotation) for the SRV records of `name`, with
/// EDNS0, and over TCP when a UDP answer comes back truncated. `server` (an IPv4
/// literal) and `port` replace the name servers, for tests; NULL keeps the system's.
/// `timeout_seconds` > 0 replaces the per-try timeout. Returns the answer's length in
/// `answer`, or -1 when there is none (no such name, no server answered, an error).
int suite_resolve_srv(const char *name, const char *server, int port, int timeout_seconds, unsigned char *answer, int length);

#endif
