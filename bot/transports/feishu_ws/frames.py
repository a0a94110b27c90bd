"""What the SDK's thread does with each frame: note it, and answer the data frames.

`Frames` is the `event_handler` handed to lark-oapi's ws.Client: the SDK calls
`_do_without_validation(payload)` synchronously on its own loop with the reassembled
payload, and writes the ack frame with whatever it returns (a card click's answer) once
the call returns, or an error ack (Feishu retries) if it raises. So the call blocks
until the main loop has committed the event: ack only after store.
"""

from __future__ import annotations

import concurrent.futures
import contextvars
import json
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

from bot import metrics
from bot.channels.platform.errors import Rejected
from bot.runtime import Runtime
from bot.services.feishu_inbound import take

log = logging.getLogger(__name__)

# Feishu's own limit for an answer is 3 s; keep a margin for the ack to travel.
ANSWER_WITHIN = 2.5

# When the frame being handled arrived (perf_counter): the ack latency's start. Set by
# the SDK's side (sdk.py) in the task that handles the frame, read here in the same task.
ARRIVED: contextvars.ContextVar[float] = contextvars.ContextVar("feishu_ws_arrived")

Submit = Callable[[Coroutine[Any, Any, Any]], concurrent.futures.Future]


class Frames:
    def __init__(self, rt: Runtime, submit: Submit):
        self.rt = rt
        self.submit = submit  # runs a coroutine on the main loop (see transport.py)
        self.heard = time.monotonic()  # the last frame of any kind: the watchdog's heartbeat
        self.limit = rt.settings.server.max_body_kb * 1024  # the webhook's limit

    def frame_arrived(self, kind: str) -> None:
        self.heard = time.monotonic()
        metrics.FEISHU_WS_FRAMES.labels(kind).inc()
        if kind in ("malformed", "other", "card"):
            # The SDK logs and drops these (no ack): never the connection's end.
            log.warning("feishu long connection: ignored a %s frame", kind)

    def _do_without_validation(self, payload: bytes) -> dict[str, Any] | None:
        started = ARRIVED.get(None)
        outcome = "error"
        try:
            answer, outcome = self._answer(payload)
            return answer
        finally:
            metrics.FEISHU_WS_ACKS.labels(outcome).inc()
            if started is not None:
                metrics.FEISHU_WS_ACK_SECONDS.observe(time.perf_counter() - started)

    def _answer(self, payload: bytes) -> tuple[dict[str, Any] | None, str]:
        if len(payload) > self.limit:
            log.warning(
                "feishu long connection: dropped a %d-byte event (limit %d)",
                len(payload),
                self.limit,
            )
            return None, "ignored"  # acknowledged: a retry would be just as big
        try:
            data = json.loads(payload)
        except (ValueError, RecursionError):
            data = None
        if not isinstance(data, dict):
            log.warning("feishu long connection: an event that is not a JSON object, ignored")
            return None, "ignored"
        work = take(self.rt, data)
        try:
            future = self.submit(work)
        except RuntimeError:  # the main loop has closed: the process is going away
            work.close()
            raise
        try:
            answer = future.result(timeout=ANSWER_WITHIN)
        except Rejected as exc:
            log.info("feishu long connection: event rejected: %s", exc.reason)
            return None, "ignored"
        except concurrent.futures.TimeoutError:
            future.cancel()
            log.error("feishu long connection: event not stored within %.1f s", ANSWER_WITHIN)
            raise  # an error ack: Feishu delivers it again (the store de-duplicates)
        except Exception as exc:
            log.error("feishu long connection: event not stored: %s", type(exc).__name__)
            raise
        return answer, "accepted"  # stored now or before, or an event we do not handle
