"""Feishu interactive cards (JSON 2.0) built from `Outgoing`, and the card shown after a click.

A click must be answered inside the HTTP response within 3 s with the card replaced
(so nobody clicks twice), built only from the click payload. So every button carries,
next to its own value, a small `_ui` context: the card's title and body, the button's
label, the buttons that stay after this click (claim → resolve) and whether the card sits
in a group. The parser strips `_ui` again: flows see the button value they defined.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import ValidationError

from bot.channels.base import Action, Outgoing

UI_KEY = "_ui"
MAX_CARD_BYTES = 28 * 1024  # Feishu refuses cards over 30 KB (230025); keep a margin

# Buttons that remain usable after a click on the key (everything else is a decision).
# "Wrong label" only asks HR for the label, so it changes nothing on the card.
FOLLOW_UPS: dict[str, tuple[str, ...]] = {
    "claim": ("resolve", "correct"),
    "resolve": ("correct",),
    "correct": ("claim", "resolve", "correct"),
    "question": ("accept", "decline"),
}

_BUTTON_TYPE = {"primary": "primary_filled", "danger": "danger", "default": "default"}
_AT_TAG = re.compile(r"<(\s*at\b)", re.IGNORECASE)


def escape_markdown(text: str) -> str:
    """User text inside card markdown: no tags (an `<at id=all>` must not ping everyone)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def defuse_mentions(text: str) -> str:
    """Plain text messages: break `<at ...>` so quoted user text cannot @ anyone."""
    return _AT_TAG.sub("<\u200b\\1", text)


def _plain(content: str) -> dict[str, str]:
    return {"tag": "plain_text", "content": content}


def _button(action: Action, ui: dict[str, Any]) -> dict[str, Any]:
    button: dict[str, Any] = {
        "tag": "button",
        "type": _BUTTON_TYPE.get(action.style, "default"),
        "text": _plain(action.label),
        "behaviors": [
            {"type": "callback", "value": {"action": action.key, **action.value, UI_KEY: ui}}
        ],
    }
    if action.confirm:
        button["confirm"] = {"title": _plain(action.label), "text": _plain(action.confirm)}
    return button


def _card(
    title: str,
    body: str,
    actions: tuple[Action, ...],
    *,
    in_group: bool,
    template: str,
    body_in_ui: bool = True,
) -> dict[str, Any]:
    elements: list[dict[str, Any]] = [{"tag": "markdown", "content": body}]
    if actions:
        columns = []
        for action in actions:
            stays = FOLLOW_UPS.get(action.key, ())
            ui = {
                "t": title,
                "b": body if body_in_ui else "",
                "l": action.label,
                "k": [a.model_dump(mode="json") for a in actions if a.key in stays],
                "g": int(in_group),
            }
            columns.append({"tag": "column", "width": "auto", "elements": [_button(action, ui)]})
        elements.append({"tag": "column_set", "flex_mode": "flow", "columns": columns})
    card: dict[str, Any] = {
        "schema": "2.0",
        "config": {"update_multi": True},  # PATCH and click answers may replace it
        "body": {"elements": elements},
    }
    if title:
        card["header"] = {"title": _plain(title), "template": template}
    return card


def _sized(title: str, body: str, actions: tuple[Action, ...], **kw: Any) -> dict[str, Any]:
    card = _card(title, body, actions, **kw)
    if len(card_json(card).encode("utf-8")) > MAX_CARD_BYTES:
        # Long text times many buttons: the card after a click then shows only the status.
        card = _card(title, body, actions, body_in_ui=False, **kw)
    return card


def build_card(message: Outgoing, *, in_group: bool) -> dict[str, Any]:
    title, text = message.headed()
    card = _sized(
        title,
        escape_markdown(text),
        message.actions,
        in_group=in_group,
        template="blue",
    )
    if message.form is not None:
        card["body"]["elements"].append(_form(message, in_group=in_group))
    return card


FORM_NAME = "form"
SUBMIT_NAME = "form_submit"


def _form(message: Outgoing, *, in_group: bool) -> dict[str, Any]:
    """A JSON 2.0 form container: one input per field and the submit button, whose
    callback carries the values in `form_value` (parse_click puts them under `form`)."""
    form = message.form
    assert form is not None
    elements: list[dict[str, Any]] = [
        {
            "tag": "input",
            "name": f.name,
            "label": _plain(f.label),
            "placeholder": _plain(f.placeholder or f.label),
            "max_length": 200,
        }
        for f in form.fields
    ]
    ui = {"t": message.title, "b": "", "l": form.submit.label, "k": [], "g": int(in_group)}
    submit = _button(form.submit, ui)
    submit.update(name=SUBMIT_NAME, form_action_type="submit")
    elements.append(submit)
    return {"tag": "form", "name": FORM_NAME, "elements": elements}


def decided_card(ui: dict[str, Any], status: str) -> dict[str, Any]:
    """The card after a click: same title and text, the decision as a status line, and
    only the follow-up buttons (so the same decision cannot be clicked twice)."""
    title = ui.get("t") if isinstance(ui.get("t"), str) else ""
    body = ui.get("b") if isinstance(ui.get("b"), str) else ""
    remaining: list[Action] = []
    for item in ui.get("k") if isinstance(ui.get("k"), list) else []:
        try:
            remaining.append(Action.model_validate(item))
        except ValidationError:
            continue
    text = f"{body}\n\n**{escape_markdown(status)}**" if body else f"**{escape_markdown(status)}**"
    return _sized(title, text, tuple(remaining), in_group=bool(ui.get("g")), template="grey")


def card_json(card: dict[str, Any]) -> str:
    return json.dumps(card, ensure_ascii=False, separators=(",", ":"))
