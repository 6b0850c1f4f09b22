#!/usr/bin/env python3
"""Load for scripts/outage: clients create meet-rooms rooms through the gateway, each
named uniquely, and record what they were told and when. Standard library only.

    outage-load.py URL TOKEN SECONDS CLIENTS OUT.jsonl
"""
import json
import sys
import threading
import time
import urllib.error
import urllib.request

url, token, seconds, clients, out = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
start = time.monotonic()
lock = threading.Lock()
records = []


def client(number):
    count = 0
    while time.monotonic() - start < seconds:
        count += 1
        name = f"outage-{number}-{count}"
        body = json.dumps({"name": name}).encode()
        request = urllib.request.Request(url, data=body, method="POST", headers={
            "Authorization": "Bearer " + token, "Content-Type": "application/json"})
        sent = time.monotonic()
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                status, text = response.status, response.read()[:200].decode(errors="replace")
        except urllib.error.HTTPError as error:
            status, text = error.code, error.read()[:200].decode(errors="replace")
        except Exception as error:  # refused, reset: no HTTP answer at all
            status, text = 0, repr(error)[:200]
        answered = time.monotonic()
        with lock:
            records.append({"name": name, "status": status, "sent": sent - start, "answered": answered - start,
                            "body": text, "wall_answered": time.time()})
        if status not in (201,):
            time.sleep(0.05)


threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
with open(out, "w") as file:
    for record in records:
        file.write(json.dumps(record) + "\n")
