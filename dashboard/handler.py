"""Django's ASGI handler, with each request's sync code on one of a fixed set of threads.

Django runs a request's sync middleware, view and queries on a thread of the request's own:
it starts a thread per request and another to join it, the request's database connection dies
with it, and the request crosses between that thread and the event loop at each change between
sync and async middleware. Without those a mixed load is served at 1.65x the rate
(bench/bench_memory.py, README).

Here each process keeps LBLAB_WEB_THREADS threads; a request takes an idle one for its whole
life (asgiref's ThreadSensitiveContext with an executor of ours), so what Django keeps per
thread, the database connection (CONN_MAX_AGE) among it, lasts across requests. A request that
finds every thread busy waits for one: the threads bound the process's requests in flight, as
a WSGI server's do.
"""
from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.core.handlers.asgi import ASGIHandler
from django.core.handlers.base import BaseHandler


class PooledThreadsASGIHandler(ASGIHandler):
    def __init__(self, threads: int):
        BaseHandler.__init__(self)
        # every view here is sync: the middleware run as a WSGI server runs them, the whole chain
        # in one call on the request's thread, not hopping between it and the event loop at each
        # middleware that is async-capable and each that is not
        self.load_middleware(is_async=False)
        self.threads = threads
        self._idle: asyncio.Queue | None = None

    def _executors(self) -> asyncio.Queue:
        """The idle threads, made on the server's event loop at its first request."""
        if self._idle is None:
            self._idle = asyncio.Queue()
            for i in range(self.threads):
                self._idle.put_nowait(ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"request-{i + 1}"))
        return self._idle

    def close(self) -> None:
        """Closes each thread's database connections and ends the threads (a server process just exits)."""
        from django.db import connections

        while self._idle is not None and not self._idle.empty():
            executor = self._idle.get_nowait()
            executor.submit(connections.close_all).result()
            executor.shutdown()

    async def get_response_async(self, request):
        return await sync_to_async(self.get_response, thread_sensitive=True)(request)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        idle = self._executors()
        executor = await idle.get()
        try:
            async with ThreadSensitiveContext(executor=executor):
                await self.handle(scope, receive, send)
        finally:
            idle.put_nowait(executor)
