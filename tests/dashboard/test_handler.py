"""The web server's Django handler (dashboard/handler.py): requests served on a fixed set of
threads, each keeping its database connection, and never more requests in flight than threads."""
import asyncio
import threading

import pytest
from channels.testing import HttpCommunicator
from django.core.signals import request_finished, request_started
from django.db import connection

from dashboard.handler import PooledThreadsASGIHandler

pytestmark = pytest.mark.django_db(transaction=True)
A_QUERYING_PAGE = "/share/no-such-token/"  # looks its token up: 404


async def get(handler, path=A_QUERYING_PAGE) -> int:
    communicator = HttpCommunicator(handler, "GET", path, headers=[(b"host", b"127.0.0.1")])
    status = (await communicator.get_response(timeout=30))["status"]
    await communicator.wait(timeout=30)  # the handler done with the request: its response closed
    return status


def test_requests_reuse_the_threads_and_their_database_connection():
    served = []

    def record(**kwargs):
        served.append((threading.current_thread().name, connection.connection))

    request_finished.connect(record)
    try:
        handler = PooledThreadsASGIHandler(threads=1)

        async def three_in_turn():
            return [await get(handler) for _ in range(3)]

        assert asyncio.run(three_in_turn()) == [404, 404, 404]
    finally:
        request_finished.disconnect(record)
        handler.close()
    assert [name for name, _ in served] == ["request-1_0"] * 3  # Django's own handler: a new thread each
    first = served[0][1]
    assert first is not None and all(conn is first for _, conn in served)  # one connection, opened once


def test_a_request_waits_for_an_idle_thread():
    started, release = [], threading.Event()

    def hold(**kwargs):
        started.append(threading.current_thread().name)
        release.wait(30)

    request_started.connect(hold)
    try:
        handler = PooledThreadsASGIHandler(threads=2)

        async def three_at_once():
            requests = [asyncio.ensure_future(get(handler)) for _ in range(3)]
            for _ in range(100):
                await asyncio.sleep(0.02)
            in_flight = len(started)
            release.set()
            return in_flight, await asyncio.gather(*requests)

        in_flight, statuses = asyncio.run(three_at_once())
    finally:
        release.set()
        request_started.disconnect(hold)
        handler.close()
    assert in_flight == 2
    assert statuses == [404, 404, 404]
    assert sorted(set(started)) == ["request-1_0", "request-2_0"]
