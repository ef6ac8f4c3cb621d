"""ASGI entry point: HTTP to Django, WebSockets (origin-checked, authenticated) to the consumers."""
import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")
django.setup(set_prefix=False)  # before importing anything that touches models

from django.conf import settings  # noqa: E402

from dashboard.handler import PooledThreadsASGIHandler  # noqa: E402

django_asgi_app = PooledThreadsASGIHandler(settings.WEB_THREADS)

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from django.urls import get_resolver  # noqa: E402

from dashboard.live.origin import SameOriginValidator  # noqa: E402
from dashboard.live.routing import websocket_urlpatterns  # noqa: E402

get_resolver().url_patterns  # the views (and Bokeh) imported as the server starts, not on its first request

application = ProtocolTypeRouter({
    "http": django_asgi_app,
    "websocket": SameOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
})
