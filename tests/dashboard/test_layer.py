"""The channel layer: a cancelled receive ends (as a stream's does when its page goes), and
operations come back after a Redis restart (tests/dashboard/test_chaos.py restarts one under a
live stream)."""
import asyncio

from channels.layers import channel_layers, get_channel_layer


def test_a_cancelled_receive_always_ends():
    """Cancelled at every stage of its first command (connecting, the handshake, the blocking
    read), a receive must end: a cancellation lost there kept a closed stream's task polling
    Redis for ever, and hung the loop's shutdown."""

    async def cancel_after(delay):
        layer = get_channel_layer()
        channel = await layer.new_channel()
        task = asyncio.create_task(layer.receive(channel))
        await asyncio.sleep(delay)
        task.cancel()
        await asyncio.sleep(0)
        task.cancel()  # as asyncio.run's shutdown and the consumer's own clean-up both do
        done, _ = await asyncio.wait([task], timeout=3)
        return bool(done)

    delays = [i * 0.0005 for i in range(60)] * 3
    ended = []
    for delay in delays:
        channel_layers.backends = {}  # a layer per event loop, as in the suite's fixture
        ended.append(asyncio.run(cancel_after(delay)))
    hung = sorted({delay for delay, ok in zip(delays, ended) if not ok})
    assert not hung, f"receives cancelled after {hung} s did not end"
