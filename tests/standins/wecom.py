"""A WeCom stand-in on 127.0.0.1 and a WeCom-side callback signer, for tests.

`WecomStandin` speaks the slice of the server API the bot uses — gettoken, message/send,
message/update_template_card, webhook/send, appchat/send, media/get, media/upload,
user/getuserid, kf/sync_msg, kf/send_msg, kf/send_msg_on_event, kf/add_contact_way — and
behaves like WeCom where it matters to the bot: tokens that expire (42001) or are unknown
(40014); `enable_duplicate_check` (the same JSON within the interval is answered but not
delivered); task_id unique forever (42014); one-shot response codes and welcome codes;
the group robot's 20 posts a minute (45009); media/get answering JSON instead of a file
for an unknown id (40007); kf messages held for sync_msg with a cursor and `has_more`.
It records every request and can be told to fail the next calls of an endpoint with an
errcode (-1, 45009, 45033, 81013, 60020, ...) or an HTTP status.

`CallbackSigner` builds callbacks exactly as WeCom sends them: the message XML encrypted
with the EncodingAESKey (AES-256-CBC, receive id appended), signed with the Token.
"""

from __future__ import annotations

import itertools
import json
import re
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer
from wechatpy.enterprise.crypto import PrpCrypto, WeChatCrypto

from bot.channels.wecom.crypto import signature

CORP_ID = "ww_standin_corp"
SECRET = "standin-app-secret"
AGENT_ID = 1000002
TOKEN = "standinToken123"
AES_KEY = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"  # 43 chars (wechatpy's test key)
ROBOT_KEY = "robot-key-0001"
OPEN_KFID = "wkStandinKf01"
BAD_ARGUMENT = 40058  # WeCom's "invalid parameter"; used for shapes the stand-in refuses

_TASK_ID = re.compile(r"^[0-9A-Za-z_\-@]{1,128}$")


@dataclass
class Call:
    endpoint: str
    method: str
    query: dict[str, str]
    body: Any
    answer: int = 0  # errcode (or HTTP status when >= 400 and no JSON)
    duplicate: bool = False  # suppressed by enable_duplicate_check


@dataclass
class Failure:
    code: int | None = None  # errcode in a 200 JSON answer
    status: int = 200  # or an HTTP status with a plain body


@dataclass
class Media:
    data: bytes
    filename: str
    content_type: str


@dataclass
class WecomStandin:
    corp_id: str = CORP_ID
    secret: str = SECRET
    agent_id: int = AGENT_ID
    robot_key: str = ROBOT_KEY
    token_ttl: int = 7200
    kf_page_size: int = 1000
    robot_per_minute: int = 20
    calls: list[Call] = field(default_factory=list)
    users_by_mobile: dict[str, str] = field(default_factory=dict)
    invalid_users: set[str] = field(default_factory=set)
    media: dict[str, Media] = field(default_factory=dict)
    kf_messages: dict[str, list[dict]] = field(default_factory=dict)
    # Awaited with each call before it is answered (a test's look at the bot's state then).
    on_call: Callable[[Call], Awaitable[None]] | None = None
    app_chats: dict[str, str] = field(default_factory=dict)  # chatid → name (appchat/get)
    kf_accounts: list[str] = field(default_factory=lambda: [OPEN_KFID])

    def __post_init__(self) -> None:
        self._ids = itertools.count(1)
        self._tokens: dict[str, bool] = {}  # token → still valid
        self._failures: dict[str, deque[Failure]] = {}
        self._dedup: dict[str, tuple[float, dict]] = {}
        self._task_ids: set[str] = set()
        self._response_codes: set[str] = set()
        self._welcome_codes: set[str] = set()
        self._robot_posts: deque[float] = deque()
        self._server: TestServer | None = None

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> str:
        app = web.Application(client_max_size=30 * 1024 * 1024)
        app.router.add_route("*", "/cgi-bin/{endpoint:.+}", self._dispatch)
        self._server = TestServer(app, host="127.0.0.1", port=0)
        await self._server.start_server()
        return self.url

    async def close(self) -> None:
        if self._server is not None:
            await self._server.close()

    @property
    def url(self) -> str:
        assert self._server is not None
        return str(self._server.make_url("")).rstrip("/")

    def settings(self, **overrides: Any) -> dict[str, Any]:
        """The `[wecom]` section that points the bot here."""
        return {
            "enabled": True,
            "corp_id": self.corp_id,
            "agent_id": self.agent_id,
            "secret": self.secret,
            "token": TOKEN,
            "encoding_aes_key": AES_KEY,
            "api_base_url": self.url,
            "hr_webhook_key": self.robot_key,
            "hr_chat_id": "",
            "kf_open_kfid": OPEN_KFID,
            **overrides,
        }

    # -- what tests arrange ---------------------------------------------------------------

    def fail(self, endpoint: str, code: int | None = None, *, status: int = 200, times: int = 1):
        """The next `times` calls of `endpoint` answer errcode `code` (or HTTP `status`)."""
        queue = self._failures.setdefault(endpoint, deque())
        for _ in range(times):
            queue.append(Failure(code=code, status=status))

    def expire_tokens(self) -> None:
        """Every token issued so far now answers 42001 (WeCom may expire them early)."""
        for token in self._tokens:
            self._tokens[token] = False

    def add_media(self, data: bytes, filename: str, content_type: str) -> str:
        media_id = f"media-{next(self._ids)}"
        self.media[media_id] = Media(data, filename, content_type)
        return media_id

    def queue_kf(self, *messages: dict, open_kfid: str = OPEN_KFID) -> None:
        for msg in messages:
            event = msg.get("event") or {}
            if event.get("welcome_code"):
                self._welcome_codes.add(event["welcome_code"])
            self.kf_messages.setdefault(open_kfid, []).append(msg)

    def click(self) -> str:
        """A fresh one-shot response code, as WeCom puts in a template_card_event."""
        code = f"click-rc-{next(self._ids)}"
        self._response_codes.add(code)
        return code

    # -- what tests read ------------------------------------------------------------------

    def calls_to(self, endpoint: str) -> list[Call]:
        return [c for c in self.calls if c.endpoint == endpoint]

    def delivered(self, endpoint: str) -> list[dict]:
        """Bodies that reached someone: answered 0 and not suppressed as duplicates."""
        return [c.body for c in self.calls_to(endpoint) if c.answer == 0 and not c.duplicate]

    @property
    def tokens_issued(self) -> int:
        return len(self._tokens)

    # -- the server -----------------------------------------------------------------------

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        endpoint = request.match_info["endpoint"]
        query = dict(request.query)
        body: Any = None
        if endpoint == "media/upload":
            body = await self._read_upload(request)
        elif request.method == "POST":
            try:
                body = json.loads(await request.read())
            except ValueError:
                body = None
        call = Call(endpoint, request.method, query, body)
        self.calls.append(call)
        if self.on_call is not None:
            await self.on_call(call)
        failures = self._failures.get(endpoint)
        if failures:
            failure = failures.popleft()
            if failure.code is None:
                call.answer = failure.status
                return web.Response(status=failure.status, text="stand-in failure")
            return self._answer(call, failure.code, "stand-in failure")
        if endpoint == "gettoken":
            return self._gettoken(call)
        if endpoint == "webhook/send":
            return self._webhook(call)
        problem = self._token_problem(query.get("access_token", ""))
        if problem:
            return self._answer(call, problem, "access_token invalid or expired")
        handler = getattr(self, "_" + endpoint.replace("/", "_"), None)
        if handler is None:
            return self._answer(call, BAD_ARGUMENT, f"stand-in does not speak {endpoint}")
        return await handler(call) if endpoint == "media/get" else handler(call)

    def _answer(self, call: Call, code: int, msg: str = "ok", **data: Any) -> web.Response:
        call.answer = code
        return web.json_response({"errcode": code, "errmsg": msg if code else "ok", **data})

    def _token_problem(self, token: str) -> int:
        if token not in self._tokens:
            return 40014
        return 0 if self._tokens[token] else 42001

    def _gettoken(self, call: Call) -> web.Response:
        if call.query.get("corpid") != self.corp_id:
            return self._answer(call, 40013, "invalid corpid")
        if call.query.get("corpsecret") != self.secret:
            return self._answer(call, 40001, "invalid credential")
        token = f"standin-token-{next(self._ids)}"
        self._tokens[token] = True
        return self._answer(call, 0, access_token=token, expires_in=self.token_ttl)

    # -- messages -------------------------------------------------------------------------

    def _message_send(self, call: Call) -> web.Response:
        body = call.body if isinstance(call.body, dict) else {}
        if body.get("agentid") != self.agent_id:
            return self._answer(call, 40056, "invalid agentid")
        user = body.get("touser", "")
        if not user or user in self.invalid_users:
            return self._answer(call, 81013, "user & party & tag all invalid", invaliduser=user)
        msg_type = body.get("msgtype")
        problem = _content_problem(msg_type, body.get(msg_type))
        if problem:
            return self._answer(call, BAD_ARGUMENT, problem)
        if body.get("enable_duplicate_check") == 1:
            fingerprint = json.dumps(body, sort_keys=True, ensure_ascii=False)
            seen = self._dedup.get(fingerprint)
            interval = body.get("duplicate_check_interval", 1800)
            if seen and time.monotonic() - seen[0] < interval:
                call.duplicate = True
                return self._answer(call, 0, **seen[1])
        answer: dict[str, Any] = {"invaliduser": "", "msgid": f"msg-{next(self._ids)}"}
        if msg_type == "template_card":
            card_task = body["template_card"]["task_id"]
            if card_task in self._task_ids:
                return self._answer(call, 42014, "task_id already exists")
            self._task_ids.add(card_task)
            answer["response_code"] = f"send-rc-{next(self._ids)}"
            self._response_codes.add(answer["response_code"])
        if body.get("enable_duplicate_check") == 1:
            self._dedup[fingerprint] = (time.monotonic(), answer)
        return self._answer(call, 0, **answer)

    def _message_update_template_card(self, call: Call) -> web.Response:
        body = call.body if isinstance(call.body, dict) else {}
        code = body.get("response_code")
        if code not in self._response_codes:
            return self._answer(call, BAD_ARGUMENT, "invalid response_code")
        self._response_codes.discard(code)  # one-shot
        return self._answer(call, 0, invaliduser=[])

    def _appchat_send(self, call: Call) -> web.Response:
        body = call.body if isinstance(call.body, dict) else {}
        if not body.get("chatid"):
            return self._answer(call, 86003, "chat not found")
        problem = _content_problem(body.get("msgtype"), body.get(body.get("msgtype", "")))
        if problem:
            return self._answer(call, BAD_ARGUMENT, problem)
        return self._answer(call, 0)

    def _webhook(self, call: Call) -> web.Response:
        if call.query.get("key") != self.robot_key:
            return self._answer(call, 93000, "invalid webhook url")
        now = time.monotonic()
        while self._robot_posts and now - self._robot_posts[0] > 60:
            self._robot_posts.popleft()
        if len(self._robot_posts) >= self.robot_per_minute:
            return self._answer(call, 45009, "api freq out of limit")
        body = call.body if isinstance(call.body, dict) else {}
        msg_type = body.get("msgtype")
        if msg_type == "markdown":
            content = (body.get("markdown") or {}).get("content", "")
            if not content or len(content.encode()) > 4096:
                return self._answer(call, BAD_ARGUMENT, "markdown content empty or too long")
        elif msg_type != "image":
            return self._answer(call, BAD_ARGUMENT, "unsupported msgtype")
        self._robot_posts.append(now)
        return self._answer(call, 0)

    # -- media ----------------------------------------------------------------------------

    async def _media_get(self, call: Call) -> web.Response:
        media = self.media.get(call.query.get("media_id", ""))
        if media is None:
            return self._answer(call, 40007, "invalid media_id")
        call.answer = 0
        headers = {"Content-Disposition": f'attachment; filename="{media.filename}"'}
        return web.Response(body=media.data, content_type=media.content_type, headers=headers)

    async def _read_upload(self, request: web.Request) -> dict[str, Any]:
        try:
            form = await request.post()
        except ValueError:
            return {}
        part = form.get("media")
        if not isinstance(part, web.FileField):
            return {}
        return {"filename": part.filename, "data": part.file.read(), "type": part.content_type}

    def _media_upload(self, call: Call) -> web.Response:
        body = call.body or {}
        data = body.get("data", b"")
        if call.query.get("type") not in ("image", "voice", "video", "file") or len(data) <= 5:
            return self._answer(call, BAD_ARGUMENT, "invalid media")
        media_id = self.add_media(data, body.get("filename", ""), body.get("type", ""))
        return self._answer(call, 0, type=call.query["type"], media_id=media_id, created_at="1")

    # -- identity -------------------------------------------------------------------------

    def _user_getuserid(self, call: Call) -> web.Response:
        mobile = (call.body or {}).get("mobile", "")
        userid = self.users_by_mobile.get(mobile)
        if userid is None:
            return self._answer(call, 46004, "user no exist")
        return self._answer(call, 0, userid=userid)

    # -- 微信客服 ---------------------------------------------------------------------------

    def _kf_sync_msg(self, call: Call) -> web.Response:
        body = call.body if isinstance(call.body, dict) else {}
        messages = self.kf_messages.get(body.get("open_kfid", ""), [])
        try:
            start = int(body.get("cursor") or 0)
        except ValueError:
            return self._answer(call, BAD_ARGUMENT, "invalid cursor")
        limit = min(int(body.get("limit") or 1000), self.kf_page_size)
        page = messages[start : start + limit]
        end = start + len(page)
        return self._answer(
            call,
            0,
            next_cursor=str(end),
            has_more=1 if end < len(messages) else 0,
            msg_list=page,
        )

    def _kf_send_msg(self, call: Call) -> web.Response:
        body = call.body if isinstance(call.body, dict) else {}
        if not body.get("touser") or not body.get("open_kfid"):
            return self._answer(call, BAD_ARGUMENT, "touser and open_kfid are required")
        problem = _kf_problem(body)
        if problem:
            return self._answer(call, BAD_ARGUMENT, problem)
        return self._answer(call, 0, msgid=body.get("msgid") or f"kf-{next(self._ids)}")

    def _kf_send_msg_on_event(self, call: Call) -> web.Response:
        body = call.body if isinstance(call.body, dict) else {}
        if body.get("code") not in self._welcome_codes:
            return self._answer(call, BAD_ARGUMENT, "invalid code")
        problem = _kf_problem(body)
        if problem:
            return self._answer(call, BAD_ARGUMENT, problem)
        self._welcome_codes.discard(body["code"])  # one-shot
        return self._answer(call, 0, msgid=body.get("msgid") or f"kf-{next(self._ids)}")

    def _kf_account_list(self, call: Call) -> web.Response:
        accounts = [{"open_kfid": k, "name": f"客服 {k}"} for k in self.kf_accounts]
        return self._answer(call, 0, account_list=accounts)

    def _appchat_get(self, call: Call) -> web.Response:
        chatid = call.query.get("chatid", "")
        if chatid not in self.app_chats:
            return self._answer(call, 86003, "chat not exist")
        return self._answer(call, 0, chat_info={"chatid": chatid, "name": self.app_chats[chatid]})

    def _kf_add_contact_way(self, call: Call) -> web.Response:
        body = call.body if isinstance(call.body, dict) else {}
        scene = body.get("scene", "")
        if not body.get("open_kfid") or not re.fullmatch(r"[0-9A-Za-z_-]{0,32}", scene):
            return self._answer(call, BAD_ARGUMENT, "invalid open_kfid or scene")
        url = f"https://work.weixin.qq.com/kf/kfc{next(self._ids):06d}?enc_scene=ENC{scene}"
        return self._answer(call, 0, url=url)


def _content_problem(msg_type: Any, content: Any) -> str | None:
    if not isinstance(content, dict):
        return f"no {msg_type} object"
    if msg_type == "text":
        text = content.get("content", "")
        return None if text and len(text.encode()) <= 2048 else "text empty or over 2048 bytes"
    if msg_type == "markdown":
        text = content.get("content", "")
        return None if text and len(text.encode()) <= 4096 else "markdown empty or too long"
    if msg_type == "image":
        return None if content.get("media_id") else "image without media_id"
    if msg_type == "template_card":
        return _card_problem(content)
    return f"stand-in does not deliver {msg_type}"


def _card_problem(card: dict) -> str | None:
    if card.get("card_type") != "button_interaction":
        return "card_type must be button_interaction"
    if not (card.get("main_title") or {}).get("title"):
        return "main_title.title is required"
    if not _TASK_ID.match(str(card.get("task_id", ""))):
        return "task_id must be 1-128 of [0-9A-Za-z_-@]"
    buttons = card.get("button_list")
    if not isinstance(buttons, list) or not 1 <= len(buttons) <= 6:
        return "button_list needs 1-6 buttons"
    keys = [b.get("key", "") for b in buttons]
    if any(not k or len(k.encode()) > 1024 for k in keys) or len(set(keys)) != len(keys):
        return "button keys must be unique, 1-1024 bytes"
    if any(not b.get("text") for b in buttons):
        return "button text is required"
    return None


def _kf_problem(body: dict) -> str | None:
    msg_type = body.get("msgtype")
    msgid = body.get("msgid", "")
    if msgid and not re.fullmatch(r"[0-9A-Za-z_-]{1,32}", msgid):
        return "msgid must be ≤32 of [0-9A-Za-z_-]"
    if msg_type == "text":
        text = (body.get("text") or {}).get("content", "")
        return None if text and len(text.encode()) <= 2048 else "text empty or too long"
    if msg_type == "msgmenu":
        menu = body.get("msgmenu") or {}
        if len(menu.get("head_content", "").encode()) > 1024:
            return "head_content over 1024 bytes"
        items = menu.get("list") or []
        ok = all(i.get("type") == "click" and i.get("click", {}).get("id") for i in items)
        return None if items and ok else "msgmenu needs click items with ids"
    if msg_type == "image":
        return None if (body.get("image") or {}).get("media_id") else "image without media_id"
    return f"stand-in does not deliver kf {msg_type}"


@asynccontextmanager
async def running_standin(**options: Any) -> AsyncIterator[WecomStandin]:
    standin = WecomStandin(**options)
    await standin.start()
    try:
        yield standin
    finally:
        await standin.close()


# -- kf messages as kf/sync_msg returns them ----------------------------------------------


def kf_text(external: str, content: str, msgid: str, *, menu_id: str = "") -> dict:
    text: dict[str, Any] = {"content": content}
    if menu_id:
        text["menu_id"] = menu_id
    return _kf(external, msgid, "text", text=text)


def kf_media(external: str, kind: str, media_id: str, msgid: str) -> dict:
    return _kf(external, msgid, kind, **{kind: {"media_id": media_id}})


def kf_enter_session(external: str, msgid: str, scene_param: str, welcome_code: str) -> dict:
    return {
        "msgid": msgid,
        "send_time": int(time.time()),
        "origin": 4,
        "msgtype": "event",
        "event": {
            "event_type": "enter_session",
            "open_kfid": OPEN_KFID,
            "external_userid": external,
            "scene": "offer",
            "scene_param": scene_param,
            "welcome_code": welcome_code,
        },
    }


def _kf(external: str, msgid: str, msg_type: str, **payload: Any) -> dict:
    return {
        "msgid": msgid,
        "open_kfid": OPEN_KFID,
        "external_userid": external,
        "send_time": int(time.time()),
        "origin": 3,
        "msgtype": msg_type,
        **payload,
    }


# -- callbacks as WeCom sends them ---------------------------------------------------------


class CallbackSigner:
    def __init__(self, token: str = TOKEN, aes_key: str = AES_KEY, corp_id: str = CORP_ID):
        self.token, self.aes_key, self.corp_id = token, aes_key, corp_id

    def url_check(self, echo: str, *, timestamp: int | None = None) -> dict[str, str]:
        """GET query for URL verification (urlencode it: the echostr is base64)."""
        crypto = WeChatCrypto(self.token, self.aes_key, self.corp_id)
        echostr = PrpCrypto(crypto.key).encrypt(echo, self.corp_id).decode()
        ts, nonce = str(timestamp or int(time.time())), str(next(_nonces))
        return {
            "msg_signature": signature(self.token, ts, nonce, echostr),
            "timestamp": ts,
            "nonce": nonce,
            "echostr": echostr,
        }

    def post(
        self, plaintext: str, *, timestamp: int | None = None, receive_id: str | None = None
    ) -> tuple[dict[str, str], bytes]:
        """(query, body) of an encrypted POST callback carrying `plaintext`."""
        crypto = WeChatCrypto(self.token, self.aes_key, receive_id or self.corp_id)
        ts, nonce = str(timestamp or int(time.time())), str(next(_nonces))
        reply = crypto.encrypt_message(plaintext, nonce, ts)
        encrypted = re.search(r"<Encrypt><!\[CDATA\[(.*?)\]\]></Encrypt>", reply).group(1)
        sig = re.search(r"<MsgSignature><!\[CDATA\[(.*?)\]\]></MsgSignature>", reply).group(1)
        body = (
            f"<xml><ToUserName><![CDATA[{self.corp_id}]]></ToUserName>"
            f"<Encrypt><![CDATA[{encrypted}]]></Encrypt>"
            f"<AgentID><![CDATA[{AGENT_ID}]]></AgentID></xml>"
        )
        return {"msg_signature": sig, "timestamp": ts, "nonce": nonce}, body.encode()


_nonces = itertools.count(100_000_001)
_msg_ids = itertools.count(7_000_000_000_000_000_001)


def text_xml(user: str, content: str, *, msg_id: int | None = None) -> str:
    return _app_xml(user, "text", f"<Content><![CDATA[{content}]]></Content>", msg_id)


def image_xml(user: str, media_id: str, *, msg_id: int | None = None) -> str:
    extra = (
        f"<PicUrl><![CDATA[http://p.example/x]]></PicUrl><MediaId><![CDATA[{media_id}]]></MediaId>"
    )
    return _app_xml(user, "image", extra, msg_id)


def _app_xml(user: str, msg_type: str, extra: str, msg_id: int | None) -> str:
    return (
        f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName>"
        f"<FromUserName><![CDATA[{user}]]></FromUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[{msg_type}]]></MsgType>"
        f"{extra}<MsgId>{msg_id or next(_msg_ids)}</MsgId><AgentID>{AGENT_ID}</AgentID></xml>"
    )


def card_click_xml(
    user: str, key: str, task_id: str, response_code: str, *, create_time: int | None = None
) -> str:
    return (
        f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName>"
        f"<FromUserName><![CDATA[{user}]]></FromUserName>"
        f"<CreateTime>{create_time or int(time.time())}</CreateTime>"
        "<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[template_card_event]]></Event>"
        f"<EventKey><![CDATA[{key}]]></EventKey><TaskId><![CDATA[{task_id}]]></TaskId>"
        "<CardType><![CDATA[button_interaction]]></CardType>"
        f"<ResponseCode><![CDATA[{response_code}]]></ResponseCode><AgentID>{AGENT_ID}</AgentID>"
        "</xml>"
    )


def kf_event_xml(token: str, *, open_kfid: str = OPEN_KFID, create_time: int | None = None) -> str:
    return (
        f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName>"
        f"<CreateTime>{create_time or int(time.time())}</CreateTime>"
        "<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[kf_msg_or_event]]></Event>"
        f"<Token><![CDATA[{token}]]></Token><OpenKfId><![CDATA[{open_kfid}]]></OpenKfId></xml>"
    )


# -- a bot wired to the stand-in -------------------------------------------------------------


@dataclass
class WecomEnv:
    standin: WecomStandin
    rt: Any  # bot.runtime.Runtime
    client: Any  # aiohttp TestClient on the bot's app
    signer: CallbackSigner

    @property
    def channel(self) -> Any:
        return self.rt.channels["wecom"]

    async def callback(self, plaintext: str, **options: Any) -> Any:
        """POST an encrypted, signed callback to the bot, as WeCom does."""
        query, body = self.signer.post(plaintext, **options)
        return await self.client.post("/wecom/callback", params=query, data=body)


@asynccontextmanager
async def wecom_env(
    settings_factory: Any, make_runtime: Any, *, standin: dict | None = None, **sections: Any
) -> AsyncIterator[WecomEnv]:
    """A runtime and HTTP app whose WeCom points at a fresh stand-in. `sections` are
    settings overrides; `wecom={...}` is merged into the stand-in's own section."""
    from aiohttp.test_utils import TestClient

    from bot.app import build_app

    async with running_standin(**(standin or {})) as fake:
        wecom = fake.settings(**sections.pop("wecom", {}))
        rt = await make_runtime(settings_factory(wecom=wecom, **sections))
        async with TestClient(TestServer(build_app(rt))) as client:
            yield WecomEnv(fake, rt, client, CallbackSigner())
