#!/usr/bin/env python3
"""A light latency probe for scripts/bench: GET a URL at a fixed rate over one
keep-alive connection for some seconds, then print the p50 and p99 in milliseconds.
Unlike wrk it does not load the machine, so it shows how an event loop answers while
something else (bcrypt) keeps the CPUs busy."""
import http.client, sys, time, urllib.parse

url, seconds, rate = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
parts = urllib.parse.urlsplit(url)
connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
latencies, failures = [], 0
end = time.monotonic() + seconds
next_at = time.monotonic()
while time.monotonic() < end:
    start = time.monotonic()
    try:
        connection.request("GET", parts.path)
        response = connection.getresponse()
        response.read()
        if response.status != 200:
            failures += 1
    except OSError:
        failures += 1
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
    latencies.append((time.monotonic() - start) * 1000)
    next_at += 1 / rate
    time.sleep(max(0, next_at - time.monotonic()))
latencies.sort()
pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))]
print(f"{pick(0.5):.2f}ms {pick(0.99):.2f}ms {len(latencies)} {failures}")
