"""Which pages may open a stream: those served from this very host and port (or an origin in
CSRF_TRUSTED_ORIGINS), with a host in ALLOWED_HOSTS. channels' AllowedHostsOriginValidator
compares host names only, so another site on the same host but another port could open a
logged-in user's stream. A refused stream is accepted and closed with 4403."""
from urllib.parse import urlparse

from channels.security.websocket import OriginValidator
from django.conf import settings
from django.http.request import validate_host

from dashboard.live.consumers import FORBIDDEN, RefusingConsumer


class _Refused(RefusingConsumer):
    async def connect(self):
        await self.refuse(FORBIDDEN)


class SameOriginValidator(OriginValidator):
    def __init__(self, application):
        super().__init__(application, settings.CSRF_TRUSTED_ORIGINS)

    async def __call__(self, scope, receive, send):
        headers = dict(scope.get("headers", []))
        try:
            origin = urlparse(headers.get(b"origin", b"").decode("latin1"))
            host = headers.get(b"host", b"").decode("latin1")
            allowed = bool(origin.scheme) and self.same_origin(origin, host) or self.validate_origin(origin)
        except (UnicodeDecodeError, ValueError):
            allowed = False
        if allowed:
            return await self.application(scope, receive, send)
        return await _Refused.as_asgi()(scope, receive, send)

    def same_origin(self, origin, host: str) -> bool:
        served = urlparse("//" + host)
        if origin.hostname is None or served.hostname is None:
            return False
        default = 443 if origin.scheme in ("https", "wss") else 80  # a Host header without a port
        return (origin.hostname == served.hostname and self.get_origin_port(origin) == (served.port or default)
                and validate_host(served.hostname, settings.ALLOWED_HOSTS))
