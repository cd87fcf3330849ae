"""The live fan-out: new readers start at the latest keyframe, a slow reader drops to the next one
with bounded memory and never holds back the others, a restarted stream's new init reaches everyone."""

from __future__ import annotations

import asyncio

import pytest

from shared.media_fanout import Fanout, Fragment, Init, StreamEnded

pytestmark = pytest.mark.anyio

INIT = Init(b"I" * 100, "avc1.42c01e")


def frag(n: int, keyframe: bool = False, size: int = 1000) -> Fragment:
    return Fragment(bytes([n % 256]) * size, keyframe, 1000.0 + n)


async def drain(reader) -> list:
    out = []
    while True:
        try:
            out.append(await reader.next(0.01))
        except TimeoutError:
            return out


async def test_a_new_reader_starts_with_the_init_and_the_fragments_since_the_latest_keyframe() -> None:
    fanout = Fanout()
    fanout.set_init(INIT)
    for n, key in enumerate([True, False, False, True, False]):
        fanout.push(frag(n, key))
    got = await drain(fanout.reader())
    assert got == [INIT, frag(3, True), frag(4)]


async def test_a_reader_before_any_keyframe_waits_for_one() -> None:
    fanout = Fanout()
    fanout.set_init(INIT)
    fanout.push(frag(0))  # not a keyframe: nobody can decode it
    reader = fanout.reader()
    fanout.push(frag(1))
    fanout.push(frag(2, True))
    assert await drain(reader) == [INIT, frag(2, True)]


async def test_a_slow_reader_drops_to_the_next_keyframe_and_holds_bounded_memory() -> None:
    fanout = Fanout(max_pending_bytes=120_000)
    fanout.set_init(INIT)
    fanout.push(frag(0, True))
    slow, fast = fanout.reader(), fanout.reader()
    fast_got = await drain(fast)
    for n in range(1, 200):  # 200 KB while the slow one reads nothing
        fanout.push(frag(n, keyframe=n % 50 == 0))
        fast_got += await drain(fast)
        assert slow._bytes <= 120_000 + len(INIT.data)
    # The fast reader got everything, in order.
    assert [f.data[0] for f in fast_got[2:]] == [n % 256 for n in range(1, 200)]
    # The slow one lost fragments, and goes on from a keyframe after the init.
    got = await drain(slow)
    assert slow.dropped > 100
    first_fragment = next(i for i, item in enumerate(got) if isinstance(item, Fragment))
    assert isinstance(got[first_fragment - 1], Init) and got[first_fragment].keyframe
    assert [f.data[0] for f in got[first_fragment:]] == list(range(150, 200))


async def test_a_new_init_reaches_every_reader_before_the_next_keyframe() -> None:
    fanout = Fanout()
    fanout.set_init(INIT)
    fanout.push(frag(0, True))
    reader = fanout.reader()
    await drain(reader)
    other = Init(b"J" * 100, "avc1.64001f")
    fanout.set_init(other)
    fanout.push(frag(1))  # a fragment of the new stream before its keyframe: skipped
    fanout.push(frag(2, True))
    assert await drain(reader) == [other, frag(2, True)]


async def test_readers_end_with_the_fanout_and_leave_without_a_trace() -> None:
    fanout = Fanout()
    fanout.set_init(INIT)
    with fanout.reading() as reader:
        assert fanout.reader_count == 1
        fanout.end("the camera session was closed")
        assert await reader.next(1) == INIT
        with pytest.raises(StreamEnded, match="closed"):
            await reader.next(1)
    assert fanout.reader_count == 0


async def test_a_stream_that_stopped_gives_a_new_reader_nothing_old_until_it_starts_again() -> None:
    # A camera session whose ffmpeg failed: a decoder that restarts must not decode the last GOP
    # again and show it as new pictures (it did, in a loop, while the camera was down).
    fanout = Fanout()
    fanout.set_init(Init(b"init-1", "avc1.64001f"))
    fanout.push(Fragment(b"key", keyframe=True))
    fanout.forget()
    assert fanout.init is None and fanout.gop == []
    with fanout.reading() as reader:
        with pytest.raises(TimeoutError):
            await reader.next(0.05)
        fanout.set_init(Init(b"init-2", "avc1.64001f"))
        fanout.push(Fragment(b"key-2", keyframe=True))
        assert await reader.next(1) == Init(b"init-2", "avc1.64001f")
        assert (await reader.next(1)).data == b"key-2"


async def test_a_reader_cancelled_as_an_item_arrives_stops() -> None:
    """A consumer loop (the live decoder's feeder) cancelled in the very turn of the loop that brings
    it an item must end: Python 3.11's asyncio.wait_for returned the item and dropped the cancel, so
    the feeder ran on and a live hub's close waited for it forever (a CI run hung 80 minutes)."""
    fanout = Fanout()
    fanout.set_init(INIT)
    got: list[object] = []

    async def consume() -> None:
        with fanout.reading() as reader:
            while True:
                got.append(await reader.next(0.25))

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.05)  # it has taken the init and waits for the next item
    fanout.push(frag(1, keyframe=True))  # wakes it ...
    task.cancel()  # ... and cancels it before it runs again
    done, _ = await asyncio.wait({task}, timeout=2)
    assert done and task.cancelled()
    assert fanout.reader_count == 0
