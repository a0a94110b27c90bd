"""Reply readers the bot can be configured with ([intents] provider, docs/understanding.md):
`LocalProvider` (the learned model with the rules for what is certain; the default),
`RulesProvider` (the rules alone) and `LLMProvider` (an OpenAI-compatible endpoint, asked
only when the local model is unsure). `make_provider` builds the configured one."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Protocol

import aiohttp

from bot.understanding.rules import (
    CONCERNS,
    INTENTS,
    INTENTS_SET,
    MENU_RX,
    Classification,
    certain_rule,
    classify_rules,
    normalise,
)

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------------------
# Providers
# --------------------------------------------------------------------------------------


class IntentProvider(Protocol):
    async def classify(self, text: str) -> Classification: ...


class RulesProvider:
    """The rule tables, as a provider."""

    async def classify(self, text: str) -> Classification:
        return classify_rules(text)

    async def close(self) -> None:
        return None


LLM_SYSTEM_PROMPT = (
    "You label a job candidate's chat reply to a job offer. Reply with JSON only, no prose: "
    '{"intent": I, "concerns": [C, ...]}. I is one of: ' + ", ".join(INTENTS) + ". "
    "accept = takes the offer; decline = refuses it or backs out after accepting; "
    "hesitate = undecided, needs time, waits for another offer, family disagrees, or "
    "negotiates (e.g. asks for more salary); question = asks for information; "
    "other = anything else (greetings, thanks, unrelated). "
    "C are the topics the reply raises, zero or more of: " + ", ".join(CONCERNS) + ". "
    "The reply may be Chinese or English and informal."
)


class LLMProvider:
    """Classify with an OpenAI-compatible chat-completions endpoint; rules on any failure.

    `base_url` may be the server root ("http://host:8000"), the API root ending in "/v1",
    or the full ".../chat/completions" URL. A bare menu choice ("1", "2", "3") and empty
    text are answered by the rules without a request. Concern names the model invents
    are dropped; an unknown intent, malformed JSON, an HTTP error or a timeout means the
    rules answer instead (logged as a warning, without the candidate's text).
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str,
        timeout_s: float,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self.url = _completions_url(base_url)
        self.model = model
        self.api_key = api_key
        self.timeout_s = timeout_s
        self._session = session
        self._owns_session = session is None

    async def close(self) -> None:
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None

    async def classify(self, text: str) -> Classification:
        t = normalise(text)
        if not t or MENU_RX.match(t):
            return classify_rules(text)
        try:
            return await self._ask(text)
        except Exception as exc:  # any failure: the rules answer
            log.warning(
                "intent LLM failed (%s: %s); using rules for a %d-character reply",
                type(exc).__name__,
                str(exc)[:200],
                len(text),
            )
            return classify_rules(text)

    async def _ask(self, text: str) -> Classification:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        body = {
            "model": self.model,
            "temperature": 0,
            "messages": [
                {"role": "system", "content": LLM_SYSTEM_PROMPT},
                {"role": "user", "content": text},
            ],
        }
        timeout = aiohttp.ClientTimeout(total=self.timeout_s)
        async with self._session.post(
            self.url, json=body, headers=headers, timeout=timeout
        ) as resp:
            if resp.status != 200:
                raise RuntimeError(f"HTTP {resp.status}")
            data = await resp.json(content_type=None)
        content = data["choices"][0]["message"]["content"]
        return parse_llm_answer(content)


def parse_llm_answer(content: str) -> Classification:
    """Validate the model's JSON answer; raise ValueError if it is not usable."""
    if not isinstance(content, str):
        raise ValueError("content is not a string")
    start, end = content.find("{"), content.rfind("}")
    if start < 0 or end <= start:
        raise ValueError("no JSON object in the answer")
    obj = json.loads(content[start : end + 1])
    if not isinstance(obj, dict):
        raise ValueError("answer is not a JSON object")
    intent = obj.get("intent")
    if not isinstance(intent, str) or intent.strip().lower() not in INTENTS_SET:
        raise ValueError(f"unknown intent {intent!r}")
    raw = obj.get("concerns", [])
    if not isinstance(raw, list) or not all(isinstance(c, str) for c in raw):
        raise ValueError("concerns is not a list of strings")
    named = {c.strip().lower() for c in raw}
    concerns = tuple(c for c in CONCERNS if c in named)
    return Classification(intent.strip().lower(), concerns, "llm")


def _completions_url(base_url: str) -> str:
    url = base_url.rstrip("/")
    if url.endswith("/chat/completions"):
        return url
    if url.endswith("/v1"):
        return url + "/chat/completions"
    return url + "/v1/chat/completions"


class LocalProvider:
    """The default reader: the learned model (see docs/understanding.md) with the rules for
    what is certain (empty text, menu digits, button labels) and as the fallback when no
    model file can be loaded. With `llm`, the LLM is asked only when the model is unsure;
    if it names a decision the model did not read, the reading stays unsure (the bot
    confirms); if the LLM fails, the model's own unsure reading stands.

    `data_dir`: where `offerbot train-intents` keeps its models (`<data_dir>/models/`); the
    newest kept one is served, else the model shipped in the package. `reload()` picks up
    a newly kept model.
    """

    def __init__(self, data_dir: Path | None = None, llm: LLMProvider | None = None) -> None:
        self.data_dir = data_dir
        self.llm = llm
        self._model: Any = None
        self._failed = False

    @property
    def model(self) -> Any:
        """The served IntentModel, or None when none could be loaded (rules then)."""
        if self._model is None and not self._failed:
            try:
                from bot.understanding.served import served_model

                self._model = served_model(self.data_dir)
            except Exception as exc:  # a broken install must not stop replies: rules
                self._failed = True
                log.error(
                    "intent model unavailable (%s: %s); using the rules",
                    type(exc).__name__,
                    str(exc)[:200],
                )
        return self._model

    @property
    def model_name(self) -> str:
        """The name of the model serving replies ("rules" without one). Read off the file
        when no reply has been read yet, so that naming it does not load it."""
        if self._model is not None:
            return self._model.name
        if self._failed:
            return "rules"
        try:
            from bot.understanding.served import served_model_name

            return served_model_name(self.data_dir)
        except Exception:  # noqa: BLE001 — whatever loading would then fail on: rules
            m = self.model
            return m.name if m is not None else "rules"

    def reload(self) -> None:
        """Serve the newest kept model from now on."""
        self._model, self._failed = None, False

    def read(self, text: str, explain: bool = False) -> tuple[Classification, tuple[str, ...]]:
        """The local reading (no LLM) and, with `explain`, why."""
        certain = certain_rule(text)
        if certain is not None:
            return certain[0], (("rule: " + certain[1],) if explain else ())
        m = self.model
        if m is None:
            got = classify_rules(text)
            return got, (("rules (no model file)",) if explain else ())
        r = m.read(text, explain=explain)
        return Classification(r.intent, r.concerns, "model", r.sure, r.confidence, r.model), (
            r.explain
        )

    async def classify(self, text: str) -> Classification:
        local, _ = self.read(text)
        if local.sure or self.llm is None:
            return local
        try:
            asked = await self.llm._ask(text)
        except Exception as exc:  # any failure: the model's own (unsure) reading
            log.warning(
                "intent LLM failed (%s: %s); keeping the local reading of a %d-character reply",
                type(exc).__name__,
                str(exc)[:200],
                len(text),
            )
            return local
        sure = asked.intent not in ("accept", "decline") or asked.intent == local.intent
        return Classification(
            asked.intent, asked.concerns, "llm", sure, local.confidence, "llm:" + self.llm.model
        )

    async def close(self) -> None:
        if self.llm is not None:
            await self.llm.close()


def make_provider(
    provider: str,
    llm_base_url: str,
    llm_model: str,
    llm_api_key: str,
    llm_timeout_s: float,
    data_dir: Path | None = None,
) -> IntentProvider:
    """The configured reader ([intents] in the config): "rules" = the local model plus the
    rules, no LLM; "llm" = the same, asking the LLM when the local model is unsure."""
    if provider == "rules":
        return LocalProvider(data_dir)
    if provider == "llm":
        if not llm_base_url or not llm_model:
            raise ValueError("intents.provider = 'llm' needs llm_base_url and llm_model")
        return LocalProvider(
            data_dir, LLMProvider(llm_base_url, llm_model, llm_api_key, llm_timeout_s)
        )
    raise ValueError(f"unknown intents provider {provider!r} (expected 'rules' or 'llm')")
