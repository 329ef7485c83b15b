"""A TCP proxy that delays every byte by a fixed time each way (netem's `delay`, in userspace).

    python bench/_delay_proxy.py DELAY_S TARGET_PORT [TARGET_PORT ...]

Listens on one free 127.0.0.1 port per target, prints ``listen target`` pairs and a blank line,
then forwards until stdin closes (its parent ended). Order and throughput are kept: data read
at t is written at t + delay. A separate process, so its CPU is not counted as aktui's.
"""

from __future__ import annotations

import asyncio
import os
import sys


async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter, delay: float) -> None:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def feed() -> None:
        try:
            while data := await src.read(65536):
                queue.put_nowait((loop.time() + delay, data))
        except OSError:
            pass
        queue.put_nowait((loop.time() + delay, b""))

    feeder = asyncio.create_task(feed())
    try:
        while True:
            due, data = await queue.get()
            if (wait := due - loop.time()) > 0:
                await asyncio.sleep(wait)
            if not data:
                break
            dst.write(data)
            await dst.drain()
    except OSError:
        pass
    finally:
        feeder.cancel()
        dst.close()


async def main(delay: float, targets: list[int]) -> None:
    async def serve(target: int) -> asyncio.Server:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                up_r, up_w = await asyncio.open_connection("127.0.0.1", target)
            except OSError:
                writer.close()
                return
            await asyncio.gather(pipe(reader, up_w, delay), pipe(up_r, writer, delay))

        return await asyncio.start_server(handle, "127.0.0.1", 0, backlog=256)

    servers = [await serve(t) for t in targets]
    for server, target in zip(servers, targets, strict=True):
        print(server.sockets[0].getsockname()[1], target)
    print(flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)  # until the parent goes away
    os._exit(0)  # connections still open end with the process, without cancelled-task noise


if __name__ == "__main__":
    asyncio.run(main(float(sys.argv[1]), [int(p) for p in sys.argv[2:]]))
