"""Listen to an experiment's Channels group as a browser would, and collect what arrives."""
import asyncio

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from dashboard.live.publisher import group_name


def listen(experiment_id):
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(group_name(experiment_id), channel)
    return layer, channel


def drain(layer, channel, idle: float = 1.0) -> list[dict]:
    """Every message on the channel until none arrives for `idle` seconds."""
    async def collect():
        messages = []
        while True:
            try:
                messages.append(await asyncio.wait_for(layer.receive(channel), idle))
            except asyncio.TimeoutError:
                return messages
    return async_to_sync(collect)()


class Collecting:
    """`with Collecting(experiment_id) as messages:` gathers the group's messages in a thread while
    the block runs, so a long run does not overflow the channel (Redis layer capacity 100)."""

    def __init__(self, experiment_id):
        self.experiment_id = experiment_id
        self.messages: list[dict] = []

    def __enter__(self) -> list[dict]:
        import threading

        self.stop = threading.Event()
        ready = threading.Event()

        async def collect():
            layer = get_channel_layer()
            channel = await layer.new_channel()
            await layer.group_add(group_name(self.experiment_id), channel)
            ready.set()
            while not self.stop.is_set():
                try:
                    self.messages.append(await asyncio.wait_for(layer.receive(channel), 0.2))
                except asyncio.TimeoutError:
                    pass
            await layer.group_discard(group_name(self.experiment_id), channel)

        self.thread = threading.Thread(target=lambda: asyncio.run(collect()), daemon=True)
        self.thread.start()
        ready.wait(10)
        return self.messages

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(10)
