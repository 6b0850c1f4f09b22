#!/usr/bin/env python3
"""The benchmark's SMTP sink: speaks enough SMTP (EHLO/HELO, MAIL, RCPT, DATA with
dot-stuffing, RSET, NOOP, QUIT) for the services' transport, accepts every message and
keeps a count in a file, so scripts/bench can check that no queued mail was lost.
    smtp-sink.py <port> <count-file>"""
import asyncio, sys

port, count_file = int(sys.argv[1]), sys.argv[2]
received = 0


def save():
    with open(count_file + ".tmp", "w") as out:
        out.write(str(received))
    import os
    os.replace(count_file + ".tmp", count_file)


async def session(reader, writer):
    global received
    writer.write(b"220 bench-sink ESMTP\r\n")
    try:
        while True:
            line = await reader.readline()
            if not line:
                break
            verb = line[:4].upper()
            if verb in (b"EHLO", b"HELO"):
                writer.write(b"250-bench-sink\r\n250 8BITMIME\r\n" if verb == b"EHLO" else b"250 bench-sink\r\n")
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
