from django.urls import path

from dashboard.consumers import ExperimentConsumer

websocket_urlpatterns = [
    path("ws/experiments/<int:experiment_id>/", ExperimentConsumer.as_asgi()),
]


def stream_path(experiment_id: int) -> str:
    """The WebSocket path of an experiment's live stream (the pattern above)."""
    return f"/ws/experiments/{experiment_id}/"
