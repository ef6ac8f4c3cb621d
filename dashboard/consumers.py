"""The live stream of one experiment: joins group "experiment-<id>" and forwards its messages.

Access is the page's: the owner (or a superuser), or anyone holding an active share token
passed as ?token=. Anything else is closed with code 4403, and so is a stream opened with
a token when that link is revoked.
"""
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from dashboard.models import Experiment
from dashboard.publisher import group_name

FORBIDDEN = 4403


@database_sync_to_async
def _may_view(experiment_id: int, user, token: str | None) -> bool:
    experiment = Experiment.objects.filter(pk=experiment_id).first()
    return experiment is not None and experiment.can_view(user, token)


class ExperimentConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        experiment_id = self.scope["url_route"]["kwargs"]["experiment_id"]
        query = parse_qs(self.scope.get("query_string", b"").decode())
        token = (query.get("token") or [None])[0]
        user = self.scope.get("user")
        if not await _may_view(experiment_id, user, token):
            await self.close(code=FORBIDDEN)
            return
        # viewing by the token alone: the stream ends when that link is revoked
        self.token = token if not await _may_view(experiment_id, user, None) else None
        self.group = group_name(experiment_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content, **kwargs):
        pass  # the stream is read-only; cancelling and the like go through CSRF-checked POSTs

    # group messages: the "type" minus the dot names the handler; forwarded as they are
    async def run_metrics(self, event):
        await self.send_json(event)

    async def run_progress(self, event):
        await self.send_json(event)

    async def run_status(self, event):
        await self.send_json(event)

    async def analysis_status(self, event):
        await self.send_json(event)

    async def experiment_runs(self, event):
        await self.send_json(event)

    async def share_revoked(self, event):
        if self.token and event["token"] == self.token:
            await self.close(code=FORBIDDEN)
