"""The web server's processes (dashboard/launch/web.py): one listening socket each, all on one
port, and the connections spread over them."""
import select
import socket

import pytest

from dashboard.launch.embedded_redis import free_port
from dashboard.launch.web import listening_sockets


def test_the_processes_sockets_share_one_port_and_each_gets_connections():
    port = free_port()
    sockets = listening_sockets("127.0.0.1", port, 2)
    clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(64)]
    accepted = {sock.fileno(): 0 for sock in sockets}
    try:
        while sum(accepted.values()) < len(clients):
            ready, _, _ = select.select(sockets, [], [], 5)
            assert ready, f"only {sum(accepted.values())} of {len(clients)} connections arrived"
            for sock in ready:
                sock.accept()[0].close()
                accepted[sock.fileno()] += 1
    finally:
        for s in clients + sockets:
            s.close()
    assert all(n > 0 for n in accepted.values()), accepted  # 2**-63 by chance



def test_a_second_lab_cannot_share_a_port_in_use():
    port = free_port()
    first = listening_sockets("127.0.0.1", port, 2)
    try:
        with pytest.raises(RuntimeError, match=f"cannot listen on 127.0.0.1:{port} .*--port"):
            listening_sockets("127.0.0.1", port, 2)  # SO_REUSEPORT alone would have let it in
    finally:
        for sock in first:
            sock.close()
    with socket.socket() as other:  # a server that is not a lab
        other.bind(("127.0.0.1", port))
        other.listen()
        with pytest.raises(RuntimeError, match="another server"):
            listening_sockets("127.0.0.1", port, 1)
    listening_sockets("127.0.0.1", port, 1)[0].close()  # free again


def test_an_ipv6_host_is_refused_with_the_reason():
    with pytest.raises(RuntimeError, match="IPv4"):
        listening_sockets("::1", free_port(), 1)
