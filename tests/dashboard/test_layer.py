"""The channel layer: a cancelled receive ends (as a stream's does when its page goes), and
operations come back after a Redis restart (tests/dashboard/test_chaos.py restarts one under a
live stream)."""
import asyncio
import os
import subprocess
import sys

import pytest
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


@pytest.mark.parametrize("kind", ["pubsub", "core"])
def test_a_stream_receives_again_after_a_redis_restart(tmp_path, kind):
    """Either layer: a consumer's receive, waiting across the restart in the same event loop (as in
    the web server), gets the messages published once Redis is back."""
    from dashboard.launch import embedded_redis
    from dashboard.live.layer import RetryingRedisChannelLayer, RetryingRedisPubSubChannelLayer

    server = embedded_redis.start(tmp_path / "redis", persistent=True)
    port = int(server.url.rsplit(":", 1)[1].split("/")[0])
    layer_class = {"pubsub": RetryingRedisPubSubChannelLayer, "core": RetryingRedisChannelLayer}[kind]
    layer = layer_class(hosts=[{"address": server.url, "socket_timeout": 15.0}], prefix="restart-test")

    async def scenario():
        nonlocal server
        channel = await layer.new_channel()
        await layer.group_add("g", channel)
        receiving = asyncio.create_task(layer.receive(channel))
        await layer.group_send("g", {"type": "x", "n": 0})
        assert (await asyncio.wait_for(receiving, 10))["n"] == 0
        receiving = asyncio.create_task(layer.receive(channel))
        await asyncio.to_thread(server.stop)
        await asyncio.sleep(0.5)
        server = await asyncio.to_thread(embedded_redis.start, tmp_path / "redis", True, 15.0, port)
        for n in range(1, 150):  # published until one arrives: those sent before the layer reconnected are lost
            await layer.group_send("g", {"type": "x", "n": n})
            done, _ = await asyncio.wait([receiving], timeout=0.2)
            if done:
                return receiving.result()["n"]
        receiving.cancel()
        return None

    try:
        assert asyncio.run(scenario()) is not None, "no message arrived after the restart"
    finally:
        server.stop()


def test_lblab_channel_layer_picks_the_layer_and_refuses_any_other(tmp_path):
    run = [sys.executable, "-c", "import dashboard.settings as s; print(s.CHANNEL_LAYERS['default']['BACKEND'])"]
    env = dict(os.environ, LBLAB_VAR_DIR=str(tmp_path))
    picked = {kind: subprocess.run(run, env=dict(env, LBLAB_CHANNEL_LAYER=kind), capture_output=True, text=True)
              for kind in ["", "core", "lists"]}
    assert picked[""].stdout.strip() == "dashboard.live.layer.RetryingRedisPubSubChannelLayer"
    assert picked["core"].stdout.strip() == "dashboard.live.layer.RetryingRedisChannelLayer"
    assert picked["lists"].returncode != 0 and "LBLAB_CHANNEL_LAYER='lists'" in picked["lists"].stderr


def test_a_redis_outage_is_one_line_a_minute_not_a_traceback_a_second():
    import logging

    import redis.exceptions

    from dashboard.live.layer import RedisOutageFilter

    now = [0.0]
    outage = RedisOutageFilter(clock=lambda: now[0])

    def record(error):
        return logging.LogRecord("channels_redis.pubsub", logging.ERROR, __file__, 1, "Unexpected exception in receive task",
                                 (), (type(error), error, None))

    let_through = []
    for second in range(130):  # the reader's retries, one a second
        now[0] = float(second)
        r = record(redis.exceptions.ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused."))
        if outage.filter(r):
            let_through.append(r)
    assert len(let_through) == 3  # at 0, 60 and 120 s
    first, later = let_through[0], let_through[1]
    assert first.levelno == logging.WARNING and first.exc_info is None
    assert first.getMessage() == ("the live stream's Redis is unreachable: ConnectionError: Error 111 connecting to "
                                  "127.0.0.1:6379. Connection refused.; its reader tries again every second")
    assert "(still; 59 more failed tries)" in later.getMessage()
    other = record(ValueError("a bug"))
    assert outage.filter(other) and other.exc_info is not None and other.levelno == logging.ERROR
    # the lab's logging puts the filter on that logger
    assert any(isinstance(f, RedisOutageFilter) for f in logging.getLogger("channels_redis.pubsub").filters)
