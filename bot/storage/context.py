"""What a conversation remembers between messages (`Conversation.context`), typed.

The column is JSON; `ConversationContext` is what it holds. Flows read it with
`conversation_context(conv)` and write it with `save_context(conv, ctx)`, nowhere else.
Keys this version does not know (a row written by another version) are kept on save; a
known key whose value does not read as its type counts as absent, as the flows treated
malformed values before the model existed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from bot.storage.models import Conversation


class PendingConfirmation(BaseModel):
    """A decision the bot asked the candidate to confirm (bot/flows/confirm.py)."""

    offer_id: int
    kind: str  # accept / decline / renege
    intent: str = ""
    concerns: list[str] = Field(default_factory=list)
    text: str = ""  # the words it was read from
    reading: dict[str, Any] = Field(default_factory=dict)
    at: str = ""  # when it was asked (ISO 8601)


class ConversationContext(BaseModel):
    model_config = ConfigDict(extra="allow")

    confirm: PendingConfirmation | None = None
    # Wrong invite codes a stranger typed lately (bot/flows/binding.py locks them out).
    invite_failures: list[datetime] = Field(default_factory=list)

    @field_validator("confirm", "invite_failures", mode="wrap")
    @classmethod
    def _absent_if_malformed(cls, value: Any, handler: Any, info: ValidationInfo) -> Any:
        try:
            return handler(value)
        except ValidationError:
            field = cls.model_fields[info.field_name or ""]
            return field.get_default(call_default_factory=True)


def conversation_context(conv: Conversation) -> ConversationContext:
    raw = conv.context if isinstance(conv.context, dict) else {}
    return ConversationContext.model_validate(raw)


async def save_context(conv: Conversation, ctx: ConversationContext, **columns: Any) -> None:
    """Store `ctx` (and any other `columns` of the row in the same UPDATE)."""
    value = ctx.model_dump(mode="json", exclude_defaults=True)
    conv.context = value
    await Conversation.filter(id=conv.id).update(context=value, **columns)
