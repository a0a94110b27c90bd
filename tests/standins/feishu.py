"""A Feishu stand-in on 127.0.0.1 and a Feishu-side event sender, for tests.

`FeishuStandin` speaks the slice of the open API the bot uses (tenant token, messages
create / reply / PATCH, message resources, image upload, batch_get_id), validates what
it gets the way Feishu does (content as a JSON string, card JSON 2.0 without `action`
containers, uuid ≤ 50 and de-duplicated, update_multi on PATCH), records every request,
and can be told to fail: token revoked (99991663), rate limits (429 + reset header,
99991400, 230020), 5xx, and permanent codes per recipient (230013, 232009, 230002 ...).

`FeishuSender` builds callbacks exactly as Feishu sends them: schema 2.0 events and card
clicks, AES-256-CBC encrypted with the encrypt key, signed over the raw body bytes.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import os
import time
import uuid as uuidlib
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

# The bot's Feishu secrets in tests, and its [feishu] section pointing at a stand-in.
VTOKEN = "v-token-123"
EKEY = "encrypt-key-456"


def feishu_config(standin: FeishuStandin, **overrides: Any) -> dict[str, Any]:
    return {
        "enabled": True,
        "app_id": standin.app_id,
        "app_secret": standin.app_secret,
        "verification_token": VTOKEN,
        "encrypt_key": EKEY,
        "api_base_url": standin.url,
        "hr_chat_id": "oc_hr",
        **overrides,
    }


MAX_CARD_BYTES = 30 * 1024
MAX_TEXT_BYTES = 150 * 1024


@dataclass
class Call:
    endpoint: str
    method: str
    path: str
    query: dict[str, str]
    body: Any
    token: str
    at: float  # time.monotonic() when it arrived
    answer_code: int = 0


@dataclass
class Failure:
    status: int
    code: int | None
    msg: str
    headers: dict[str, str]
    raw: bytes | None = None


@dataclass
class Resource:
    data: bytes
    kind: str  # image / file
    filename: str = ""
    content_type: str = "application/octet-stream"


def _walk(node: Any):
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def card_problem(card: Any) -> str | None:
    """What Feishu would refuse in a JSON 2.0 card (230099), or None."""
    if not isinstance(card, dict) or card.get("schema") != "2.0":
        return "schema must be 2.0"
    body = card.get("body")
    if not isinstance(body, dict) or not isinstance(body.get("elements"), list):
        return "body.elements missing"
    for node in _walk(body):
        if node.get("tag") == "action":
            return "JSON 2.0 cards have no action container"
        if node.get("tag") == "button":
            behaviors = node.get("behaviors")
            if not isinstance(behaviors, list) or not behaviors:
                return "button without behaviors"
            if "value" in node:
                return "button value belongs in behaviors (2.0)"
            text = node.get("text")
            if not isinstance(text, dict) or not text.get("content"):
                return "button without text"
            confirm = node.get("confirm")
            if confirm is not None and not (
                isinstance(confirm, dict) and "title" in confirm and "text" in confirm
            ):
                return "confirm needs title and text"
    return None


@dataclass
class FeishuStandin:
    app_id: str = field(default_factory=lambda: f"cli_test_{uuidlib.uuid4().hex[:8]}")
    app_secret: str = "standin-app-secret"
    token_expire: int = 7200
    calls: list[Call] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)  # accepted sends
    patches: list[dict[str, Any]] = field(default_factory=list)
    images: dict[str, bytes] = field(default_factory=dict)
    resources: dict[tuple[str, str], Resource] = field(default_factory=dict)
    users: dict[str, str] = field(default_factory=dict)  # mobile or email → open_id
    unreachable: dict[str, tuple[int, str]] = field(default_factory=dict)  # receive_id → code
    valid_tokens: set[str] = field(default_factory=set)
    bot_chats: set[str] = field(default_factory=set)  # chats the bot is a member of
    # More routes on the same origin (the long connection's, tests/standins/feishu_ws.py).
    mounts: list[Any] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._failures: dict[str, list[Failure]] = {}
        self._uuids: dict[str, str] = {}
        self._ids = itertools.count(1)
        self._server: TestServer | None = None

    # -- control ----------------------------------------------------------------------

    def fail(
        self,
        endpoint: str,
        *,
        status: int = 400,
        code: int | None = None,
        msg: str = "injected failure",
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
        times: int = 1,
    ) -> None:
        """The next `times` calls to `endpoint` (token, create, reply, patch, resource,
        image, batch_get_id) answer this instead."""
        failure = Failure(status, code, msg, headers or {}, raw)
        self._failures.setdefault(endpoint, []).extend([failure] * times)

    def revoke_tokens(self) -> None:
        """Every token handed out so far becomes invalid (99991663), as after expiry."""
        self.valid_tokens.clear()

    def calls_to(self, endpoint: str) -> list[Call]:
        return [c for c in self.calls if c.endpoint == endpoint]

    def add_resource(self, message_id: str, key: str, resource: Resource) -> None:
        self.resources[(message_id, key)] = resource

    @property
    def url(self) -> str:
        assert self._server is not None
        return str(self._server.make_url("")).rstrip("/")

    async def __aenter__(self) -> FeishuStandin:
        app = web.Application(client_max_size=20 * 1024 * 1024)
        app.router.add_post("/open-apis/auth/v3/tenant_access_token/internal", self._token)
        app.router.add_post("/open-apis/im/v1/messages", self._create)
        app.router.add_post("/open-apis/im/v1/messages/{message_id}/reply", self._reply)
        app.router.add_patch("/open-apis/im/v1/messages/{message_id}", self._patch)
        app.router.add_get("/open-apis/im/v1/messages/{message_id}/resources/{key}", self._resource)
        app.router.add_post("/open-apis/im/v1/images", self._image)
        app.router.add_post("/open-apis/contact/v3/users/batch_get_id", self._batch_get_id)
        app.router.add_get("/open-apis/im/v1/chats/{chat_id}/members/is_in_chat", self._in_chat)
        for mount in self.mounts:
            mount(app)
        self._server = TestServer(app, host="127.0.0.1", port=0)
        await self._server.start_server()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        if self._server is not None:
            await self._server.close()

    # -- plumbing ---------------------------------------------------------------------

    @staticmethod
    def _answer(code: int, msg: str = "ok", status: int = 200, **extra: Any) -> web.Response:
        return web.json_response({"code": code, "msg": msg, **extra}, status=status)

    async def _begin(self, request: web.Request, endpoint: str, body: Any) -> web.Response | None:
        """Record the call; answer an injected failure or a bad token, else None."""
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else ""
        call = Call(
            endpoint,
            request.method,
            request.path,
            dict(request.query),
            body,
            token,
            time.monotonic(),
        )
        self.calls.append(call)
        queued = self._failures.get(endpoint)
        if queued:
            failure = queued.pop(0)
            call.answer_code = failure.code or failure.status
            if failure.raw is not None:
                return web.Response(
                    status=failure.status, body=failure.raw, headers=failure.headers
                )
            return web.json_response(
                {"code": failure.code, "msg": failure.msg},
                status=failure.status,
                headers=failure.headers,
            )
        if endpoint != "token" and token not in self.valid_tokens:
            call.answer_code = 99991663
            return self._answer(99991663, "Invalid access token for authorization.", 400)
        return None

    async def _json(self, request: web.Request) -> Any:
        try:
            return await request.json()
        except ValueError:
            return None

    # -- endpoints --------------------------------------------------------------------

    async def _token(self, request: web.Request) -> web.Response:
        body = await self._json(request)
        if refused := await self._begin(request, "token", body):
            return refused
        if not isinstance(body, dict) or body.get("app_id") != self.app_id:
            return self._answer(10003, "invalid app_id")
        if body.get("app_secret") != self.app_secret:
            return self._answer(10014, "app secret invalid")
        token = f"t-{next(self._ids)}-{os.urandom(4).hex()}"
        self.valid_tokens.add(token)
        return self._answer(0, tenant_access_token=token, expire=self.token_expire)

    def _check_content(self, msg_type: str, content: Any) -> tuple[int, str] | None:
        if not isinstance(content, str):
            return 99992402, "content must be a JSON string"
        try:
            parsed = json.loads(content)
        except ValueError:
            return 99992402, "content is not JSON"
        size = len(content.encode())
        if msg_type == "interactive":
            if size > MAX_CARD_BYTES:
                return 230025, "card content too large"
            if problem := card_problem(parsed):
                return 230099, f"Failed to create card content: {problem}"
        elif msg_type == "text":
            if not isinstance(parsed, dict) or not isinstance(parsed.get("text"), str):
                return 99992402, "text content needs text"
            if size > MAX_TEXT_BYTES:
                return 230025, "text too large"
        elif msg_type == "image" and (
            not isinstance(parsed, dict) or parsed.get("image_key") not in self.images
        ):
            return 234001, "invalid image_key"
        return None

    def _accept(self, record: dict[str, Any], uuid: str | None) -> web.Response:
        if uuid and uuid in self._uuids:  # Feishu: one success per uuid within an hour
            return self._answer(0, data={"message_id": self._uuids[uuid]})
        message_id = f"om_standin_{next(self._ids)}"
        if uuid:
            self._uuids[uuid] = message_id
        record["message_id"] = message_id
        self.messages.append(record)
        return self._answer(0, data={"message_id": message_id})

    async def _create(self, request: web.Request) -> web.Response:
        body = await self._json(request)
        if refused := await self._begin(request, "create", body):
            return refused
        id_type = request.query.get("receive_id_type")
        if id_type not in ("open_id", "union_id", "user_id", "email", "chat_id"):
            return self._answer(99992402, "field validation failed: receive_id_type", 400)
        if not isinstance(body, dict) or not isinstance(body.get("receive_id"), str):
            return self._answer(99992402, "field validation failed: receive_id", 400)
        uuid = body.get("uuid")
        if uuid is not None and (not isinstance(uuid, str) or len(uuid) > 50):
            return self._answer(99992402, "field validation failed: uuid", 400)
        if body["receive_id"] in self.unreachable:
            code, msg = self.unreachable[body["receive_id"]]
            return self._answer(code, msg, 400)
        msg_type = body.get("msg_type")
        if problem := self._check_content(msg_type, body.get("content")):
            return self._answer(problem[0], problem[1], 400)
        record = {
            "receive_id_type": id_type,
            "receive_id": body["receive_id"],
            "msg_type": msg_type,
            "content": json.loads(body["content"]),
            "uuid": uuid,
        }
        return self._accept(record, uuid)

    async def _reply(self, request: web.Request) -> web.Response:
        body = await self._json(request)
        if refused := await self._begin(request, "reply", body):
            return refused
        if not isinstance(body, dict):
            return self._answer(99992402, "field validation failed", 400)
        msg_type = body.get("msg_type")
        if problem := self._check_content(msg_type, body.get("content")):
            return self._answer(problem[0], problem[1], 400)
        record = {
            "reply_to": request.match_info["message_id"],
            "msg_type": msg_type,
            "content": json.loads(body["content"]),
            "uuid": body.get("uuid"),
        }
        return self._accept(record, body.get("uuid"))

    async def _patch(self, request: web.Request) -> web.Response:
        body = await self._json(request)
        if refused := await self._begin(request, "patch", body):
            return refused
        message_id = request.match_info["message_id"]
        original = next((m for m in self.messages if m["message_id"] == message_id), None)
        if original is None or original["msg_type"] != "interactive":
            return self._answer(230001, "message not found or not a card", 400)
        if not isinstance(body, dict):
            return self._answer(99992402, "field validation failed", 400)
        if problem := self._check_content("interactive", body.get("content")):
            return self._answer(problem[0], problem[1], 400)
        card = json.loads(body["content"])
        if not (original["content"].get("config", {}).get("update_multi")) or not card.get(
            "config", {}
        ).get("update_multi"):
            return self._answer(230099, "update_multi must be true in both cards", 400)
        self.patches.append({"message_id": message_id, "content": card})
        return self._answer(0)

    async def _resource(self, request: web.Request) -> web.Response:
        if refused := await self._begin(request, "resource", None):
            return refused
        key = (request.match_info["message_id"], request.match_info["key"])
        resource = self.resources.get(key)
        if resource is None:
            return self._answer(234003, "File not in msg.", 400)
        if request.query.get("type") != resource.kind:
            return self._answer(234001, "Invalid request param: type.", 400)
        headers = {"Content-Type": resource.content_type}
        if resource.filename:
            ascii_name = resource.filename.encode("ascii", "replace").decode().replace("?", "_")
            headers["Content-Disposition"] = (
                f'attachment; filename="{ascii_name}"; '
                f"filename*=UTF-8''{quote(resource.filename)}"
            )
        return web.Response(body=resource.data, headers=headers)

    async def _image(self, request: web.Request) -> web.Response:
        form = await request.post()
        fields = {k: (v if isinstance(v, str) else "<file>") for k, v in form.items()}
        if refused := await self._begin(request, "image", fields):
            return refused
        image = form.get("image")
        if form.get("image_type") != "message" or image is None or isinstance(image, str):
            return self._answer(99992402, "field validation failed", 400)
        data = image.file.read()
        image_key = f"img_v3_standin_{hashlib.sha256(data).hexdigest()[:12]}"
        self.images[image_key] = data
        return self._answer(0, data={"image_key": image_key})

    async def _batch_get_id(self, request: web.Request) -> web.Response:
        body = await self._json(request)
        if refused := await self._begin(request, "batch_get_id", body):
            return refused
        if request.query.get("user_id_type") != "open_id" or not isinstance(body, dict):
            return self._answer(99992402, "field validation failed", 400)
        users = []
        for field_name, label in (("mobiles", "mobile"), ("emails", "email")):
            for value in body.get(field_name) or []:
                entry = {label: value}
                if value in self.users:
                    entry["user_id"] = self.users[value]
                users.append(entry)
        return self._answer(0, data={"user_list": users})

    async def _in_chat(self, request: web.Request) -> web.Response:
        if refused := await self._begin(request, "is_in_chat", None):
            return refused
        chat_id = request.match_info["chat_id"]
        if not chat_id.startswith("oc_"):
            return self._answer(232001, "invalid chat_id", 400)
        return self._answer(0, data={"is_in_chat": chat_id in self.bot_chats})


# -- the Feishu side of callbacks ---------------------------------------------------------


def encrypt(encrypt_key: str, plaintext: bytes, iv: bytes | None = None) -> str:
    """What Feishu puts in {"encrypt": ...}: base64(IV + AES-256-CBC(PKCS7(plaintext)))."""
    iv = iv or os.urandom(16)
    key = hashlib.sha256(encrypt_key.encode()).digest()
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plaintext) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return base64.b64encode(iv + encryptor.update(padded) + encryptor.finalize()).decode()


def sign(timestamp: str, nonce: str, encrypt_key: str, body: bytes) -> str:
    return hashlib.sha256((timestamp + nonce + encrypt_key).encode() + body).hexdigest()


@dataclass
class FeishuSender:
    """Builds callbacks as Feishu sends them to the bot's `/feishu/events`."""

    app_id: str
    verification_token: str
    encrypt_key: str = ""
    bot_open_id: str = "ou_bot_offerbot"

    def __post_init__(self) -> None:
        self._ids = itertools.count(1)

    def _header(self, event_type: str, event_id: str | None, create_time: float | None) -> dict:
        created = create_time if create_time is not None else time.time()
        return {
            "event_id": event_id or uuidlib.uuid4().hex,
            "event_type": event_type,
            "create_time": str(int(created * 1000)),
            "token": self.verification_token,
            "app_id": self.app_id,
            "tenant_key": "tenant_standin",
        }

    def message(
        self,
        *,
        open_id: str,
        message_type: str = "text",
        content: dict[str, Any] | None = None,
        text: str | None = None,
        chat_type: str = "p2p",
        chat_id: str = "oc_p2p_chat",
        message_id: str | None = None,
        event_id: str | None = None,
        mentions: list[dict[str, Any]] | None = None,
        create_time: float | None = None,
    ) -> dict[str, Any]:
        if content is None:
            content = {"text": text or ""}
        message = {
            "message_id": message_id or f"om_msg_{next(self._ids)}_{uuidlib.uuid4().hex[:6]}",
            "create_time": str(int((create_time or time.time()) * 1000)),
            "chat_id": chat_id,
            "chat_type": chat_type,
            "message_type": message_type,
            "content": json.dumps(content, ensure_ascii=False),
        }
        if mentions is not None:
            message["mentions"] = mentions
        return {
            "schema": "2.0",
            "header": self._header("im.message.receive_v1", event_id, create_time),
            "event": {
                "sender": {
                    "sender_id": {"open_id": open_id, "union_id": f"on_{open_id}"},
                    "sender_type": "user",
                    "tenant_key": "tenant_standin",
                },
                "message": message,
            },
        }

    def bot_mention(self, key: str = "@_user_1") -> dict[str, Any]:
        return {
            "key": key,
            "id": {"open_id": self.bot_open_id, "union_id": "on_bot", "user_id": None},
            "mentioned_type": "bot",
            "name": "offerbot",
            "tenant_key": "tenant_standin",
        }

    def click(
        self,
        *,
        open_id: str,
        value: dict[str, Any],
        message_id: str,
        chat_id: str = "oc_p2p_chat",
        event_id: str | None = None,
        create_time: float | None = None,
    ) -> dict[str, Any]:
        header = self._header("card.action.trigger", event_id, create_time)
        header["create_time"] = str(int((create_time or time.time()) * 1_000_000))  # µs here
        return {
            "schema": "2.0",
            "header": header,
            "event": {
                "operator": {"tenant_key": "tenant_standin", "open_id": open_id},
                "token": f"c-{uuidlib.uuid4().hex}",
                "action": {"value": value, "tag": "button"},
                "host": "im_message",
                "context": {"open_message_id": message_id, "open_chat_id": chat_id},
            },
        }

    def request(
        self,
        payload: dict[str, Any] | bytes,
        *,
        encrypted: bool | None = None,
        signed: bool = True,
        timestamp: float | None = None,
        nonce: str | None = None,
    ) -> tuple[bytes, dict[str, str]]:
        """(raw body, headers): encrypted and signed when an encrypt key is set."""
        raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        if encrypted is None:
            encrypted = bool(self.encrypt_key)
        body = (
            json.dumps({"encrypt": encrypt(self.encrypt_key, raw)}).encode() if encrypted else raw
        )
        headers = {"Content-Type": "application/json; charset=utf-8"}
        if signed and self.encrypt_key:
            ts = str(int(timestamp if timestamp is not None else time.time()))
            nonce = nonce or uuidlib.uuid4().hex[:12]
            headers.update(
                {
                    "X-Lark-Request-Timestamp": ts,
                    "X-Lark-Request-Nonce": nonce,
                    "X-Lark-Signature": sign(ts, nonce, self.encrypt_key, body),
                }
            )
        return body, headers

    def url_verification(self, challenge: str, token: str | None = None) -> dict[str, Any]:
        return {
            "challenge": challenge,
            "token": self.verification_token if token is None else token,
            "type": "url_verification",
        }
