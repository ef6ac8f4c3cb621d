"""Listen to an experiment's Channels group as a browser would, and collect what arrives."""
import asyncio

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from dashboard.live.publisher import group_name


def listen(experiment_id):
    """Start gathering the group's messages, as a page's stream does: (the collector, its list).
    A pub/sub layer delivers to subscribers of a living event loop only, so the collector keeps
    one in a thread of its own until drain()."""
    collector = Collecting(experiment_id)
    return collector, collector.__enter__()


def drain(collector, messages, idle: float = 1.0) -> list[dict]:
    """Every message gathered until none arrives for `idle` seconds; then the collector stops."""
    import time

    seen = -1
    while seen != len(messages):
        seen = len(messages)
        time.sleep(idle)
    collector.__exit__(None, None, None)
    return messages


class Collecting:
    """`with Collecting(experiment_id) as messages:` gathers the group's messages in a thread while
    the block runs, so a long run does not overflow the channel (Redis layer capacity 100) nor
    outlive its messages (expiry 60 s). The thread's receive is never cancelled (a receive
    cancelled as a message arrives can lose it): a message of its own ends it."""

    STOP = "collecting.stop"

    def __init__(self, experiment_id):
        self.experiment_id = experiment_id
        self.messages: list[dict] = []

    def __enter__(self) -> list[dict]:
        import threading

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
