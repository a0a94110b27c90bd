"""The playground is not an open door (see docs/privacy.md): each attack in its own test,
through HTTP requests into the real app."""

from __future__ import annotations

import socket

import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestClient, TestServer

from bot.app import build_app
from bot.config import Settings
from bot.storage.models import Candidate
from tests.helpers import auth
from tests.test_playground import FEISHU

HISTORY = "/playground/api/history"
SEND = "/playground/api/send"
DEMO = "/playground/api/demo"


@pytest.fixture
async def open_client(make_runtime, settings_factory):
    """No platform enabled, bound to loopback: the page is open to this machine."""
    rt = await make_runtime(settings_factory())
    async with TestClient(TestServer(build_app(rt))) as client:
        yield client


def test_the_server_listens_on_loopback_unless_told_otherwise():
    assert Settings().server.host == "127.0.0.1"


async def test_dns_rebinding_a_foreign_host_name_is_refused(open_client):
    resp = await open_client.get(HISTORY, headers={"Host": "evil.example"})
    assert resp.status == 421
    for host in ("evil.example:80", "127.0.0.1.evil.example", "localhost.evil.example"):
        resp = await open_client.post(
            SEND, json={"role": "hr", "text": "/help"}, headers={"Host": host}
        )
        assert resp.status == 421, host
    assert (await open_client.get("/playground", headers={"Host": "evil.example"})).status == 421
    assert (await open_client.get(HISTORY)).status == 200  # its own loopback name is fine
    assert (await open_client.get(HISTORY, headers={"Host": "localhost:1"})).status == 200


async def test_an_allowed_host_name_is_served(make_runtime, settings_factory):
    rt = await make_runtime(settings_factory(playground={"allowed_hosts": ["bot.corp.example"]}))
    async with TestClient(TestServer(build_app(rt))) as client:
        ok = await client.get(HISTORY, headers={"Host": "bot.corp.example:8443"})
        assert ok.status == 200
        assert (await client.get(HISTORY, headers={"Host": "evil.example"})).status == 421


async def test_a_cross_site_form_post_to_the_demo_is_refused(open_client):
    for headers in (
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
    ):
        resp = await open_client.post(DEMO, data={"x": "1"}, headers=headers)
        assert resp.status == 403, headers
        resp = await open_client.post(
            SEND, json={"role": "hr", "text": "/forget 1"}, headers=headers
        )
        assert resp.status == 403, headers
    assert await Candidate.all().count() == 0
    same = {"Origin": str(open_client.make_url("")).rstrip("/")}
    ok = await open_client.post(SEND, json={"role": "hr", "text": "/help"}, headers=same)
    assert ok.status == 202


async def test_behind_a_reverse_proxy_the_token_is_required(open_client):
    body = {"role": "hr", "text": "/help"}
    for header in ("X-Forwarded-For", "X-Real-IP", "Forwarded", "X-Forwarded-Host"):
        value = "for=203.0.113.7" if header == "Forwarded" else "203.0.113.7"
        resp = await open_client.get(HISTORY, headers={header: value})
        assert resp.status == 401, header
        resp = await open_client.post(SEND, json=body, headers={header: value})
        assert resp.status == 401, header
    config = await open_client.get("/playground/api/config", headers={"X-Forwarded-For": "1.2.3.4"})
    assert (await config.json())["token_required"] is True
    ok = await open_client.get(HISTORY, headers={"X-Forwarded-For": "203.0.113.7", **auth()})
    assert ok.status == 200


def _outside_address() -> str | None:
    """An address of this machine that is not loopback, if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # no packet is sent: only picks the route
            address = s.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") else address


async def test_a_peer_that_is_not_loopback_needs_the_token(make_runtime, settings_factory):
    address = _outside_address()
    if address is None:
        pytest.skip("this machine has no non-loopback address to connect from")
    rt = await make_runtime(settings_factory(server={"host": address, "port": 0}))
    server = TestServer(build_app(rt), host=address)
    await server.start_server()
    try:
        async with ClientSession() as http:
            url = f"http://{address}:{server.port}{HISTORY}"
            async with http.get(url) as resp:
                assert resp.status == 401
            async with http.get(url, headers=auth()) as resp:
                assert resp.status == 200
    finally:
        await server.close()


async def test_the_demo_never_writes_beside_a_real_platform(make_runtime, settings_factory):
    # loopback bind with a token: the playground is there, but the demo would put made-up
    # candidates and alerts into the real HR groups' database
    rt = await make_runtime(settings_factory(feishu=FEISHU))
    async with TestClient(TestServer(build_app(rt))) as client:
        resp = await client.post(DEMO, headers=auth())
        assert resp.status == 409
        assert "real platform" in (await resp.json())["error"]
    assert await Candidate.all().count() == 0
