from django.urls import path, re_path

import dashboard.ids  # noqa: F401  (the <id:...> converter)

from dashboard.live.consumers import ExperimentConsumer, ExperimentListConsumer, NoSuchStream

websocket_urlpatterns = [
    path("ws/experiments/", ExperimentListConsumer.as_asgi()),
    path("ws/experiments/<id:experiment_id>/", ExperimentConsumer.as_asgi()),
    re_path(r"", NoSuchStream.as_asgi()),  # closed with 4404, not an error at the handshake
]


def stream_path(experiment_id: int | None = None) -> str:
    """The WebSocket path of an experiment's live stream, or (None) of the experiments list's."""
    return "/ws/experiments/" if experiment_id is None else f"/ws/experiments/{experiment_id}/"
