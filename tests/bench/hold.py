#!/usr/bin/env python3
"""Open COUNT connections to 127.0.0.1:PORT, use each once, then hold them idle.

Driven by bench.py over stdin/stdout:
  stdout  "READY ok=N failed=M"   once every connection was tried
  stdin   "check"  -> stdout "ALIVE n"   (connections the peer has not closed)
  stdin   "quit" or EOF            -> close everything and exit
The process also exits by itself after --max-seconds, whatever happens.

Each connection sends one "GET / HTTP/1.1" and reads the whole response before
it goes idle (--no-request: connect only), so every proxy has set up both
sides of the session, and an HTTP proxy holds a used keep-alive connection.
"""

import argparse
import asyncio
import os
import sys

REQUEST = b"GET / HTTP/1.1\r\nHost: bench\r\nUser-Agent: sluice-bench-hold\r\n\r\n"


async def read_response(reader):
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    if length:
        await reader.readexactly(length)
    return head


class Holder:
    def __init__(self, port, count, send_request, parallel, io_timeout):
        self.port = port
        self.count = count
        self.send_request = send_request
        self.gate = asyncio.Semaphore(parallel)
        self.io_timeout = io_timeout
        self.writers = []
        self.alive = 0
        self.failed = 0

    async def watch(self, reader):
        # Any byte or EOF from the peer after the exchange means the idle
        # connection did not survive as an idle connection.
        try:
            await reader.read(1)
        except (OSError, asyncio.IncompleteReadError):
            pass
        self.alive -= 1

    async def open_one(self):
        async with self.gate:
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection("127.0.0.1", self.port), self.io_timeout)
            except (OSError, asyncio.TimeoutError):
                self.failed += 1
                return
            try:
                if self.send_request:
                    writer.write(REQUEST)
                    await asyncio.wait_for(read_response(reader), self.io_timeout)
            except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError,
                    asyncio.LimitOverrunError, ValueError):
                self.failed += 1
                writer.close()
                return
            self.writers.append(writer)
            self.alive += 1
            asyncio.get_running_loop().create_task(self.watch(reader))

    async def run(self, max_seconds):
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max_seconds
        await asyncio.gather(*(self.open_one() for _ in range(self.count)))
        print(f"READY ok={len(self.writers)} failed={self.failed}", flush=True)
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            try:
                line = await asyncio.wait_for(
                    loop.run_in_executor(None, sys.stdin.readline), remaining)
            except asyncio.TimeoutError:
                break
            command = line.strip()
            if command == "check":
                print(f"ALIVE {self.alive}", flush=True)
            elif command == "quit" or line == "":
                break
        for writer in self.writers:
            writer.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--no-request", action="store_true")
    parser.add_argument("--parallel", type=int, default=200)
    parser.add_argument("--io-timeout", type=float, default=10.0)
    parser.add_argument("--max-seconds", type=float, default=180.0)
    args = parser.parse_args()
    holder = Holder(args.port, args.count, not args.no_request, args.parallel, args.io_timeout)
    asyncio.run(holder.run(args.max_seconds))
    # The stdin reader thread may still block in readline(); leave without waiting for it.
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
