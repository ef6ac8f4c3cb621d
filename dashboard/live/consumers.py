"""The live streams: an experiment's (group "experiment-<id>") and a user's experiments list's.

Access to an experiment's stream is its page's: the owner (or a superuser), or anyone
holding an active share token passed as ?token=. Anything else is closed with code 4403,
and so is a stream opened with a token when that link is revoked. The list's stream is
its user's own experiments (every experiment for a superuser), logged in only.

A refused stream is accepted and then closed, so the browser sees the code (4403 not
allowed, 4404 no such stream) and stops instead of reconnecting; a refusal before the
handshake reaches it only as 1006.
"""
import json
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from dashboard.live.publisher import STAFF_GROUP, group_name, owner_group
from dashboard.models import Experiment

FORBIDDEN, NOT_FOUND = 4403, 4404
_last_encoded: tuple[dict | None, str] = (None, "")


def _encoded(event: dict) -> str:
    """The message as JSON, encoded once for all of the process's streams it goes to: the pub/sub
    layer hands each of them the same dict (dashboard/live/layer.py)."""
    global _last_encoded
    if event is not _last_encoded[0]:
        _last_encoded = (event, json.dumps(event))
    return _last_encoded[1]


@database_sync_to_async
def _may_view(experiment_id: int, user, token: str | None) -> bool:
    experiment = Experiment.objects.filter(pk=experiment_id).first()
    return experiment is not None and experiment.can_view(user, token)


class RefusingConsumer(AsyncJsonWebsocketConsumer):
    async def refuse(self, code: int = FORBIDDEN) -> None:
        await self.accept()
        await self.close(code=code)


class NoSuchStream(RefusingConsumer):
    """Any path that is not a stream: 4404."""

    async def connect(self):
        await self.refuse(NOT_FOUND)


class ForwardingConsumer(RefusingConsumer):
    """Joins `self.groups_joined` and forwards every group message to the page as it is."""

    groups_joined: list[str] = []

    async def join(self, *groups: str) -> None:
        self.groups_joined = list(groups)
        for group in groups:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        for group in self.groups_joined:
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive_json(self, content, **kwargs):
        pass  # the streams are read-only; cancelling and the like go through CSRF-checked POSTs

    async def dispatch(self, message):
        """Group messages go straight to their handler. Channels first closes stale database
        connections on the process's one thread for sync code, before every message: a hop per
        message per stream, all in one queue, which no handler here needs (none reads the
        database); the WebSocket's own events (connect, disconnect) keep it."""
        if message["type"].startswith("websocket."):
            return await super().dispatch(message)
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def forward(self, event):
        await self.send(text_data=_encoded(event))


class ExperimentConsumer(ForwardingConsumer):
    async def connect(self):
        experiment_id = self.scope["url_route"]["kwargs"]["experiment_id"]
        query = parse_qs(self.scope.get("query_string", b"").decode())
        token = (query.get("token") or [None])[0]
        user = self.scope.get("user")
        if not await _may_view(experiment_id, user, token):
            await self.refuse()
            return
        # viewing by the token alone: the stream ends when that link is revoked
        self.token = token if not await _may_view(experiment_id, user, None) else None
        await self.join(group_name(experiment_id))

    # group messages: the "type" with its dot as an underscore names the handler
    run_metrics = run_progress = run_status = analysis_status = experiment_runs = experiment_summary = \
        ForwardingConsumer.forward

    async def share_revoked(self, event):
        if self.token and event["token"] == self.token:
            await self.close(code=FORBIDDEN)


class ExperimentListConsumer(ForwardingConsumer):
    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.refuse()
            return
        await self.join(STAFF_GROUP if user.is_superuser else owner_group(user.pk))

    experiment_summary = ForwardingConsumer.forward
