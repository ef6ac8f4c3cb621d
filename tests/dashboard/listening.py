"""Listen to an experiment's Channels group as a browser would, and collect what arrives."""
import asyncio
import threading
import time

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from dashboard.live.publisher import group_name


def settle(messages: list[dict], idle: float = 1.0) -> None:
    """Inside a `with Collecting(...) as messages:` block, wait until no new message has arrived
    for `idle` seconds: what a run published last may still be on its way."""
    seen = -1
    while seen != len(messages):
        seen = len(messages)
        time.sleep(idle)


class Collecting:
    """`with Collecting(experiment_id) as messages:` gathers the group's messages while the block
    runs, as a page's stream does. A pub/sub channel layer delivers only to subscribers of a living
    event loop, so the collector keeps one in a thread of its own, receiving all along; on the
    'core' layer a long run thus neither overflows the channel (capacity 1000) nor outlives its
    messages (expiry 60 s); the pub/sub layer keeps no messages. The thread's receive is never
    cancelled (a receive cancelled as a message arrives can lose it): a message of its own ends it."""

    STOP = "collecting.stop"

    def __init__(self, experiment_id):
        self.experiment_id = experiment_id
        self.messages: list[dict] = []

    def __enter__(self) -> list[dict]:
        ready = threading.Event()

        async def collect():
            layer = get_channel_layer()
            self.channel = await layer.new_channel()
            await layer.group_add(group_name(self.experiment_id), self.channel)
            ready.set()
            while True:
                message = await layer.receive(self.channel)
                if message["type"] == self.STOP:
                    break
                self.messages.append(message)
            await layer.group_discard(group_name(self.experiment_id), self.channel)

        self.thread = threading.Thread(target=lambda: asyncio.run(collect()), daemon=True)
        self.thread.start()
        ready.wait(10)
        return self.messages

    def __exit__(self, *exc):
        async_to_sync(get_channel_layer().send)(self.channel, {"type": self.STOP})
        self.thread.join(30)
