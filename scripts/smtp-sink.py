#!/usr/bin/env python3
"""The benchmark's SMTP sink: speaks enough SMTP (EHLO/HELO, MAIL, RCPT, DATA with
dot-stuffing, RSET, NOOP, QUIT) for the services' transport, accepts every message and
keeps a count in a file, so scripts/bench can check that no queued mail was lost. Each
message also appends "<unix time of the 250> <recipients>" to <count-file>.log, from
which scripts/mail-latency.py measures how long a mail takes to leave.
    smtp-sink.py <port> <count-file>"""
import asyncio, sys, time

port, count_file = int(sys.argv[1]), sys.argv[2]
received = 0
log = open(count_file + ".log", "a", buffering=1)


def save():
    with open(count_file + ".tmp", "w") as out:
        out.write(str(received))
    import os
    os.replace(count_file + ".tmp", count_file)


async def session(reader, writer):
    global received
    writer.write(b"220 bench-sink ESMTP\r\n")
    recipients = []
    try:
        while True:
            line = await reader.readline()
            if not line:
                break
            verb = line[:4].upper()
            if verb in (b"EHLO", b"HELO"):
                writer.write(b"250-bench-sink\r\n250 8BITMIME\r\n" if verb == b"EHLO" else b"250 bench-sink\r\n")
            elif verb == b"RCPT":
                recipients.append(line.decode(errors="replace").split(":", 1)[-1].strip().strip("<>"))
                writer.write(b"250 ok\r\n")
            elif verb in (b"MAIL", b"RSET"):
                recipients = []
                writer.write(b"250 ok\r\n")
            elif verb == b"DATA":
                writer.write(b"354 go on\r\n")
                await writer.drain()
                while True:
                    data = await reader.readline()
                    if not data or data == b".\r\n":
                        break
                received += 1
                save()
                writer.write(b"250 queued\r\n")
                log.write("%.6f %s\n" % (time.time(), ",".join(recipients)))
            elif verb == b"QUIT":
                writer.write(b"221 bye\r\n")
                await writer.drain()
                break
            else:
                writer.write(b"250 ok\r\n")
            await writer.drain()
    finally:
        writer.close()


async def main():
    save()
    server = await asyncio.start_server(session, "127.0.0.1", port)
    async with server:
        await server.serve_forever()

asyncio.run(main())
