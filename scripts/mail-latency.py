#!/usr/bin/env python3
"""How long a validation mail takes to leave: sends requestToken for N new addresses, one
at a time on an idle outbox, and for each takes the time from the answer to the SMTP
sink's 250 (smtp-sink.py's log). Prints "p50 p95 p99 max count missing" in milliseconds.
    mail-latency.py <identity-base-url> <sink-log> [count]"""
import json, os, sys, time, urllib.request

base, sink_log, count = sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 200
run = "%x" % int(time.time() * 1000)


def sunk():
    seen = {}
    if os.path.exists(sink_log):
        with open(sink_log) as lines:
            for line in lines:
                stamp, _, recipients = line.strip().partition(" ")
                for address in recipients.split(","):
                    seen.setdefault(address, float(stamp))
    return seen


answered = {}
for n in range(count):
    address = "lat-%s-%d@example.org" % (run, n)
    body = json.dumps({"email": address, "client_secret": "latency-%d" % n, "send_attempt": 1}).encode()
    request = urllib.request.Request(
        base + "/_matrix/identity/api/v1/validate/email/requestToken", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        response.read()
    answered[address] = time.time()
    time.sleep(0.02)  # an idle outbox: one mail at a time

deadline = time.time() + 10
while True:
    seen = sunk()
    missing = [a for a in answered if a not in seen]
    if not missing or time.time() > deadline:
        break
    time.sleep(0.1)
latencies = sorted(max(0.0, seen[a] - t) * 1000 for a, t in answered.items() if a in seen)


def pct(p):
    return latencies[min(len(latencies) - 1, int(p * len(latencies)))] if latencies else float("nan")


print("%.1f %.1f %.1f %.1f %d %d" % (pct(0.5), pct(0.95), pct(0.99), latencies[-1] if latencies else float("nan"), len(latencies), len(missing)))
