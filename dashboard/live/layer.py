"""The channel layers: channels_redis's (pub/sub, the default, or its per-consumer lists), with
each operation retried on a fresh connection after a Redis restart, and cancellable at any moment.

LBLAB_CHANNEL_LAYER picks one (settings.py); the web server and every publisher must use the same.
"pubsub" publishes each group message once (PUBLISH to the group's Redis channel); each web
process subscribes once per group it has a stream in and hands the message to its own consumers.
"core" pushes a copy onto every consumer's own Redis list, which each consumer polls: past about
50 streams the web process spends its time in those reads (bench/bench_live.py).

After a restart every pooled connection is dead and the next command on one fails; each layer
operation here is tried again, with a short backoff, for about 3 s.

redis-py can lose a cancellation that lands while a connection is being set up (its handshake
reads swallow it; redis/redis-py#2028 is the same family): the command then carries on as if
nothing happened. For a stream that meant a consumer whose page had gone kept polling Redis
for ever, and an event loop that never finished shutting down. So each operation runs in a
task of its own, and a cancelled caller cancels that task until it has ended.
"""
import asyncio
import logging
import time

import redis.exceptions
from channels_redis.core import RedisChannelLayer
from channels_redis.pubsub import RedisPubSubChannelLayer

log = logging.getLogger(__name__)

RETRIED = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, ConnectionError)


async def _retrying(operation, *args, attempts=7):
    delay = 0.05
    for attempt in range(1, attempts + 1):
        try:
            return await operation(*args)
        except RETRIED as error:
            if attempt == attempts:
                raise
            log.info("channel layer: %s failed (%s); again in %.2f s", operation.__name__, error, delay)
            await asyncio.sleep(delay)
            delay = min(1.0, delay * 2)


async def _end(task, patience_s=5.0):
    """Cancel `task` until it has ended: a cancellation that reaches it at the wrong moment is lost."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + patience_s
    while not task.done() and loop.time() < deadline:
        task.cancel()
        try:
            await asyncio.wait([task], timeout=0.05)
        except asyncio.CancelledError:
            pass  # cancelled again while ending: ending is what was asked
    if not task.done():
        log.warning("channel layer: an operation ignored cancellation for %.0f s; left running", patience_s)
    elif not task.cancelled() and task.exception() is not None:
        log.debug("channel layer: a cancelled operation ended with %r", task.exception())


async def _cancellable(operation, *args):
    inner = asyncio.ensure_future(_retrying(operation, *args))
    try:
        return await asyncio.shield(inner)
    except asyncio.CancelledError:
        await _end(inner)
        raise


class RetryingRedisChannelLayer(RedisChannelLayer):
    """RedisChannelLayer (a list per consumer) whose operations survive a Redis restart and always
    end when cancelled."""

    async def send(self, channel, message):
        return await _cancellable(super().send, channel, message)

    async def receive(self, channel):
        return await _cancellable(super().receive, channel)

    async def new_channel(self, prefix="specific"):
        return await _cancellable(super().new_channel, prefix)

    async def group_add(self, group, channel):
        return await _cancellable(super().group_add, group, channel)

    async def group_discard(self, group, channel):
        return await _cancellable(super().group_discard, group, channel)

    async def group_send(self, group, message):
        return await _cancellable(super().group_send, group, message)


class RetryingRedisPubSubChannelLayer(RedisPubSubChannelLayer):
    """RedisPubSubChannelLayer whose operations survive a Redis restart and always end when cancelled.

    Its subscriptions live on one connection per process, read by a task of the layer's own:
    after a Redis restart that task reconnects and subscribes again (redis-py's PubSub does, on
    its next read), so open streams come back without a retry here. A message published while
    Redis is down is lost, as with the lists; the page re-reads the points by sequence number.

    A group message reaches each of the process's streams in that group as one and the same
    bytes object; it is decoded once, and each stream gets the same dict (which none may change;
    the consumers encode it once too: dashboard/live/consumers.py).
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._decoded = (None, None)

    def deserialize(self, message):
        if message is not self._decoded[0]:
            self._decoded = (message, super().deserialize(message))
        return self._decoded[1]

    async def send(self, channel, message):
        return await _cancellable(self._get_layer().send, channel, message)

    async def receive(self, channel):
        layer = self._get_layer()
        if channel in layer.channels:
            # a wait on the process's own queue, which a cancellation always ends (its clean-up,
            # an unsubscribe, runs after): no task of its own for each message of each stream
            return await layer.receive(channel)
        return await _cancellable(layer.receive, channel)

    async def new_channel(self, prefix="specific."):
        return await _cancellable(self._get_layer().new_channel, prefix)

    async def group_add(self, group, channel):
        return await _cancellable(self._get_layer().group_add, group, channel)

    async def group_discard(self, group, channel):
        return await _cancellable(self._get_layer().group_discard, group, channel)

    async def group_send(self, group, message):
        return await _cancellable(self._get_layer().group_send, group, message)


class RedisOutageFilter(logging.Filter):
    """On channels_redis's pub/sub logger: while Redis is unreachable its reader logs a traceback
    every second it retries. The first becomes one line that says so, the repeats are held back,
    and one line every REPEAT_S says it is still down and how many tries failed meanwhile. Other
    errors pass as they are."""

    REPEAT_S = 60.0

    def __init__(self, clock=None):
        super().__init__()
        self.clock = clock or time.monotonic
        self.since = None  # when the last line about the outage was let through
        self.held = 0

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if not isinstance(error, RETRIED):
            return True
        now = self.clock()
        if self.since is not None and now - self.since < self.REPEAT_S:
            self.held += 1
            return False
        still = f" (still; {self.held} more failed tries)" if self.since is not None else ""
        record.msg, record.args = ("the live stream's Redis is unreachable%s: %s: %s; its reader tries again "
                                   "every second", (still, type(error).__name__, error))
        record.exc_info = record.exc_text = None
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        self.since, self.held = now, 0
        return True
