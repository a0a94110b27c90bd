"""How a worker sends over a connection only the lease holder has (docs/long-connections.md).

The worker delivering an outbox row pushes a *request* (the frames to send, each with a
key derived from the row's idempotency key) onto a Redis list per bot, and waits for the
answer on a key of its own. The holder takes requests one at a time, sends each frame,
waits for WeCom's 回执, and answers. Nothing is lost and nothing goes out twice:
- no answer within `send_timeout` (no holder, holder died): the worker raises a
  TransientError and the outbox retries the row later;
- a request whose worker stopped waiting is dropped unsent (`expires`): the retry sends it;
- a frame WeCom acknowledged is marked `sent:<key>` for a week, so a retry of the same
  row (its answer was lost) is answered "sent" without sending again.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

KEY_PREFIX = "offerbot:wecom_bot:"
SENT_FOR = 7 * 24 * 3600  # seconds a sent frame's marker is kept
ANSWER_FOR = 60  # seconds an answer waits for a worker that gave up


def keys(bot_id: str) -> dict[str, str]:
    base = f"{KEY_PREFIX}{bot_id}:"
    return {"lease": base + "lease", "requests": base + "requests", "base": base}


@dataclass(frozen=True)
class Frame:
    key: str  # idempotency key of this frame (the row's key + its index)
    cmd: str  # aibot_send_msg / aibot_respond_msg / aibot_respond_update_msg
    body: dict[str, Any]
    req_id: str = ""  # the callback's req_id for the respond commands
    fallback_chat: str = ""  # aibot_respond_msg refused (too late): send here instead


@dataclass
class Answer:
    ok: bool
    transient: bool = False
    errcode: int | None = None
    errmsg: str = ""
    message_ids: list[str] = field(default_factory=list)

    def dump(self) -> str:
        return json.dumps(self.__dict__)

    @classmethod
    def load(cls, raw: bytes | str) -> Answer:
        data = json.loads(raw)
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


def _text(raw: bytes | str | None) -> str | None:
    return raw.decode() if isinstance(raw, bytes) else raw


async def submit(redis: Any, bot_id: str, frames: list[Frame], wait: float) -> Answer | None:
    """Hand the frames to the holder and wait for its answer (None: nobody answered)."""
    k = keys(bot_id)
    answer_key = f"{k['base']}answer:{secrets.token_hex(12)}"
    request = {
        "answer": answer_key,
        "expires": time.time() + wait,
        "frames": [f.__dict__ for f in frames],
    }
    await redis.rpush(k["requests"], json.dumps(request, ensure_ascii=False))
    got = await redis.blpop([answer_key], timeout=max(wait, 0.01))
    if not got:
        return None
    return Answer.load(got[1])


@dataclass(frozen=True)
class Request:
    answer: str
    expires: float
    frames: list[Frame]


async def take(redis: Any, bot_id: str, timeout: float) -> Request | None:
    """The next request for the holder (None after `timeout` s, or for a malformed one)."""
    got = await redis.blpop([keys(bot_id)["requests"]], timeout=timeout)
    if not got:
        return None
    try:
        data = json.loads(got[1])
        frames = [Frame(**f) for f in data["frames"]]
        return Request(str(data["answer"]), float(data["expires"]), frames)
    except (ValueError, TypeError, KeyError):
        return None


async def already_sent(redis: Any, bot_id: str, frame: Frame) -> str | None:
    return _text(await redis.get(f"{keys(bot_id)['base']}sent:{frame.key}"))


async def mark_sent(redis: Any, bot_id: str, frame: Frame, message_id: str) -> None:
    await redis.set(f"{keys(bot_id)['base']}sent:{frame.key}", message_id or "-", ex=SENT_FOR)


async def answer(redis: Any, request: Request, result: Answer) -> None:
    pipe = redis.pipeline(transaction=True)
    pipe.rpush(request.answer, result.dump())
    pipe.expire(request.answer, ANSWER_FOR)
    await pipe.execute()
