"""What streaming a live fragment costs the sender: a gRPC aio server stream vs an aiohttp answer.

    .venv/bin/python bench/live_transport.py [--streams 16] [--rate 5] [--size 20000] [--window 10]

A server process (this script with `--serve`) pushes `--size`-byte fragments to `--streams` streams,
each `--rate` times a second (a 16-camera wall of 200 ms fragments: 80 a second), as a camera
session's fan-out does: a timer wakes, each stream's task is woken and sends. A client process
reads them over gRPC (a `MediaPiece` per fragment, as the agent's LiveStream sent them) or over one
HTTP answer per stream (a frame header and the bytes in one write, as agent.ops.live sends them).
Measured: the server's CPU over `--window` with no client (the timer alone, the baseline), with the
gRPC readers and with the HTTP readers, alternating `--rounds` times; the CPU each fragment costs is
the difference over the fragments sent. Bounded: a few windows of `--window` seconds.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import asyncio
import os
import statistics
import subprocess
import time

import aiohttp
import grpc
from aiohttp import web

from bench.common import cpu_sample, markdown_table
from shared.live_frames import header, read_item
from shared.media_fanout import Fragment
from shared.rpc import agent_pb2 as pb
from videorec_testing.net import free_port

METHOD = "/bench.Live/Stream"


async def serve(args: argparse.Namespace) -> None:
    queues: list[asyncio.Queue[Fragment]] = []
    payload = os.urandom(args.size)

    async def tick() -> None:
        # Streams' fragments spread over the fragment's span, as cameras' are.
        turn = 0
        while True:
            await asyncio.sleep(1 / args.rate / args.streams)
            turn += 1
            for index, queue in enumerate(queues):
                if index % args.streams == turn % args.streams:
                    queue.put_nowait(Fragment(payload, False, time.time()))

    def subscribe() -> asyncio.Queue[Fragment]:
        queue: asyncio.Queue[Fragment] = asyncio.Queue()
        queues.append(queue)
        return queue

    async def grpc_stream(_request: bytes, _context: object) -> object:
        queue = subscribe()
        try:
            while True:
                item = await queue.get()
                yield pb.MediaPiece(
                    data=item.data, keyframe=item.keyframe, wallclock_unix=item.wallclock or 0.0
                )
        finally:
            queues.remove(queue)

    async def http_stream(request: web.Request) -> web.StreamResponse:
        queue = subscribe()
        try:
            response = web.StreamResponse()
            await response.prepare(request)
            while True:
                item = await queue.get()
                await response.write(header(item) + item.data)
        except ConnectionResetError:
            return web.Response()  # the reader left
        finally:
            queues.remove(queue)

    handler = grpc.method_handlers_generic_handler(
        "bench.Live",
        {
            "Stream": grpc.unary_stream_rpc_method_handler(
                grpc_stream, request_deserializer=bytes, response_serializer=pb.MediaPiece.SerializeToString
            )
        },
    )
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((handler,))
    server.add_insecure_port(f"127.0.0.1:{args.grpc_port}")
    await server.start()
    app = web.Application()
    app.router.add_get("/live/{n}", http_stream)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", args.http_port).start()
    ticker = asyncio.create_task(tick())
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until the parent leaves
    ticker.cancel()


async def read(args: argparse.Namespace) -> None:
    async def over_grpc(channel: grpc.aio.Channel) -> None:
        call = channel.unary_stream(METHOD, request_serializer=bytes, response_deserializer=bytes)(b"")
        async for _ in call:
            pass

    async def over_http(http: aiohttp.ClientSession, n: int) -> None:
        async with http.get(f"http://127.0.0.1:{args.http_port}/live/{n}") as response:
            while True:
                await read_item(response.content.readexactly)

    if args.read == "grpc":
        async with grpc.aio.insecure_channel(f"127.0.0.1:{args.grpc_port}") as channel:
            await asyncio.gather(*(over_grpc(channel) for _ in range(args.streams)))
    else:
        async with aiohttp.ClientSession() as http:
            await asyncio.gather(*(over_http(http, n) for n in range(args.streams)))


def measure(args: argparse.Namespace) -> None:
    argv = [sys.executable, __file__, "--grpc-port", str(free_port()), "--http-port", str(free_port())]
    argv += ["--streams", str(args.streams), "--rate", str(args.rate), "--size", str(args.size)]
    server = subprocess.Popen([*argv, "--serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        cpu: dict[str, list[float]] = {"none": [], "grpc": [], "http": []}
        for _ in range(args.rounds):
            for mode in cpu:
                client = None if mode == "none" else subprocess.Popen([*argv, "--read", mode])
                time.sleep(3)  # connected, streaming
                before = cpu_sample(server.pid).own
                time.sleep(args.window)
                cpu[mode].append(cpu_sample(server.pid).own - before)
                if client is not None:
                    client.terminate()
                    client.wait(10)
    finally:
        server.terminate()
        server.wait(10)
    sent = args.streams * args.rate * args.window
    base = statistics.median(cpu["none"])
    rows = []
    for mode, label in (
        ("none", "no reader (the timer and wake-ups alone)"),
        ("grpc", "gRPC aio"),
        ("http", "aiohttp"),
    ):
        each = statistics.median(cpu[mode])
        per = "" if mode == "none" else f"{1e6 * (each - base) / sent:.0f}"
        rows.append([label, f"{100 * each / args.window:.2f}", per])
    load = os.getloadavg()[0]
    print(
        f"\n{args.streams} streams × {args.rate:g} fragments/s of {args.size} bytes, {args.rounds} rounds of "
        f"{args.window:g} s (median), load average {load:.1f}\n"
    )
    print(markdown_table(["sender", "sender CPU, % of a core", "µs of CPU per fragment"], rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=16)
    parser.add_argument("--rate", type=float, default=5.0)
    parser.add_argument("--size", type=int, default=20_000)
    parser.add_argument("--window", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--read", choices=("grpc", "http"), help=argparse.SUPPRESS)
    parser.add_argument("--grpc-port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--http-port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args))
    elif args.read:
        asyncio.run(read(args))
    else:
        measure(args)


if __name__ == "__main__":
    main()
