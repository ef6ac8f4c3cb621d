"""The live stream through the whole ASGI stack (origin check, session auth) over the real Redis layer."""
import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.test import Client

from dashboard.asgi import application
from dashboard.models import ShareLink
from dashboard.live.publisher import publish

pytestmark = pytest.mark.django_db


def _headers(user=None, origin=b"http://testserver"):
    headers = [(b"host", b"testserver")]
    if origin:
        headers.append((b"origin", origin))
    if user is not None:
        client = Client()
        client.force_login(user)
        headers.append((b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()))
    return headers


async def _connect(path, headers):
    communicator = WebsocketCommunicator(application, path, headers=headers)
    connected, code = await communicator.connect(timeout=5)
    return communicator, connected, code


async def _publish_and_receive(communicator, experiment_id, disconnect=True):
    from channels.layers import get_channel_layer

    from dashboard.live.publisher import group_name

    message = {"type": "run.metrics", "run": 7, "seq": 1, "progress": 0.5, "eta_seconds": 3.0,
               "points": {"loss": [[1, 2.5], [2, 2.25]]}}
    await get_channel_layer().group_send(group_name(experiment_id), message)
    received = await communicator.receive_json_from(timeout=5)
    if disconnect:
        await communicator.disconnect()
    return message, received


def test_it_streams_published_points_to_the_owner(experiment, alice):
    headers = _headers(alice)

    async def scenario():
        communicator, connected, _ = await _connect(f"/ws/experiments/{experiment.pk}/", headers)
        assert connected
        return await _publish_and_receive(communicator, experiment.pk)

    sent, received = async_to_sync(scenario)()
    assert received == sent


def test_an_idle_stream_stays_open_past_the_layers_blocking_read(experiment, alice):
    """channels_redis blocks 5 s for the next message; a socket timeout as long dropped idle streams."""
    import asyncio

    headers = _headers(alice)

    async def scenario():
        communicator, connected, _ = await _connect(f"/ws/experiments/{experiment.pk}/", headers)
        assert connected
        await asyncio.sleep(7)
        assert await communicator.receive_nothing(timeout=0.1)  # not closed meanwhile
        return await _publish_and_receive(communicator, experiment.pk)

    sent, received = async_to_sync(scenario)()
    assert received == sent


def test_it_streams_to_an_anonymous_holder_of_an_active_share_token(experiment):
    token = ShareLink.objects.create(experiment=experiment).token

    async def scenario():
        communicator, connected, _ = await _connect(f"/ws/experiments/{experiment.pk}/?token={token}", _headers())
        assert connected
        return await _publish_and_receive(communicator, experiment.pk)

    sent, received = async_to_sync(scenario)()
    assert received["points"] == sent["points"]


@pytest.mark.parametrize("who", ["bob", "anonymous", "revoked token", "wrong token", "missing experiment"])
def test_it_refuses_with_4403_anyone_who_may_not_view(experiment, bob, who):
    link = ShareLink.objects.create(experiment=experiment)
    link.revoke()
    path = f"/ws/experiments/{experiment.pk}/"
    headers = _headers()
    if who == "bob":
        headers = _headers(bob)
    elif who == "revoked token":
        path += f"?token={link.token}"
    elif who == "wrong token":
        path += "?token=" + "x" * 43
    elif who == "missing experiment":
        path = f"/ws/experiments/{experiment.pk + 1000}/"

    assert async_to_sync(_refusal)(path, headers) == {"type": "websocket.close", "code": 4403}


async def _refusal(path, headers):
    """What the server sends after the handshake: a refusal is accepted, then closed with its code,
    so the page knows not to reconnect."""
    communicator, connected, _ = await _connect(path, headers)
    assert connected
    return await communicator.receive_output(timeout=5)


@pytest.mark.parametrize("origin", [b"http://evil.example", b"http://testserver:9999", b"https://testserver:8443",
                                    b"null", None])
def test_it_refuses_a_foreign_origin_another_port_included(experiment, alice, origin):
    headers = _headers(alice, origin=origin)
    assert async_to_sync(_refusal)(f"/ws/experiments/{experiment.pk}/", headers) == {
        "type": "websocket.close", "code": 4403}


def test_it_accepts_the_pages_own_origin_with_its_port(experiment, alice):
    headers = [(b"host", b"127.0.0.1:8123") if k == b"host" else (k, v)
               for k, v in _headers(alice, origin=b"http://127.0.0.1:8123")]

    async def scenario():
        communicator, connected, _ = await _connect(f"/ws/experiments/{experiment.pk}/", headers)
        return await _publish_and_receive(communicator, experiment.pk)

    sent, received = async_to_sync(scenario)()
    assert received == sent


@pytest.mark.parametrize("path", ["/ws/experiments/abc/", "/ws/nothing/", "/elsewhere", "/ws/experiments/9223372036854775808/"])
def test_a_path_that_is_no_stream_is_closed_with_4404(experiment, alice, path):
    code = async_to_sync(_refusal)(path, _headers(alice))["code"]
    assert code in (4404, 4403)  # an id too large for the database is no experiment this user may see
    if "abc" in path or "nothing" in path:
        assert code == 4404


def test_it_publishes_from_sync_code_without_raising_when_nobody_listens(experiment):
    assert publish(experiment.pk, {"type": "run.progress", "run": 1, "progress": 0.1, "eta_seconds": None})


@pytest.mark.django_db(transaction=True)
def test_revoking_a_share_link_closes_the_streams_opened_with_it(experiment, alice):
    from channels.db import database_sync_to_async

    link = ShareLink.objects.create(experiment=experiment)
    other = ShareLink.objects.create(experiment=experiment)
    anonymous, owners = _headers(), _headers(alice)

    async def scenario():
        shared, ok_shared, _ = await _connect(f"/ws/experiments/{experiment.pk}/?token={link.token}", anonymous)
        kept, ok_kept, _ = await _connect(f"/ws/experiments/{experiment.pk}/?token={other.token}", anonymous)
        owner, ok_owner, _ = await _connect(f"/ws/experiments/{experiment.pk}/?token={link.token}", owners)
        assert ok_shared and ok_kept and ok_owner
        await database_sync_to_async(link.revoke)()
        closed = await shared.receive_output(timeout=5)
        # the other link's holder and the owner (who opened it with the same token) stay live
        sent, received = await _publish_and_receive(kept, experiment.pk)
        owner_sees = await owner.receive_json_from(timeout=5)
        await owner.disconnect()
        return closed, received == sent, owner_sees == sent

    closed, kept_live, owner_live = async_to_sync(scenario)()
    assert closed == {"type": "websocket.close", "code": 4403}
    assert kept_live and owner_live


def test_streams_forward_while_the_thread_for_sync_code_is_busy(experiment, alice):
    """A group message goes to the page without waiting for the process's one thread for sync
    code (Channels queues a hop there before every handler): a slow query elsewhere in the web
    process must not hold up every stream."""
    import asyncio
    import threading

    from asgiref.sync import sync_to_async

    headers = _headers(alice)
    release = threading.Event()

    async def scenario():
        communicator, connected, _ = await _connect(f"/ws/experiments/{experiment.pk}/", headers)
        assert connected
        busy = asyncio.ensure_future(sync_to_async(release.wait)())  # holds the thread until released
        try:
            return await _publish_and_receive(communicator, experiment.pk, disconnect=False)
        finally:
            release.set()
            await busy
            await communicator.disconnect()

    sent, received = async_to_sync(scenario)()
    assert received == sent


def test_every_stream_of_the_process_gets_the_message_as_sent(experiment, alice):
    """The pub/sub layer decodes a group message once and the consumers encode it once, for all
    the process's streams in the group: each still gets all of it."""
    headers = _headers(alice)

    async def scenario():
        streams = [(await _connect(f"/ws/experiments/{experiment.pk}/", headers))[0] for _ in range(3)]
        sent, first = await _publish_and_receive(streams[0], experiment.pk)
        others = [await s.receive_json_from(timeout=5) for s in streams[1:]]
        for s in streams[1:]:
            await s.disconnect()
        return sent, [first] + others

    sent, received = async_to_sync(scenario)()
    assert received == [sent] * 3
