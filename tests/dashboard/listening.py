"""Listen to an experiment's Channels group as a browser would, and collect what arrives."""
import asyncio

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from dashboard.publisher import group_name


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
