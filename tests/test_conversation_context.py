"""`Conversation.context` is read and written through one typed model
(bot/storage/context.py): what it knows is typed, what it does not know survives a save,
and a value that does not read as its type counts as absent."""

from datetime import UTC, datetime

from bot.storage.context import (
    ConversationContext,
    PendingConfirmation,
    conversation_context,
    save_context,
)
from bot.storage.models import Conversation


async def test_known_keys_are_typed_and_unknown_ones_survive_a_save(rt):
    conv = await Conversation.create(platform="web", user_id="c1", context={"later": [1, 2]})
    ctx = conversation_context(conv)
    assert ctx.confirm is None and ctx.invite_failures == []
    ctx.confirm = PendingConfirmation(offer_id=7, kind="accept", concerns=["salary"], text="好")
    ctx.invite_failures = [datetime(2026, 1, 2, 3, 4, tzinfo=UTC)]
    await save_context(conv, ctx, state="idle")
    stored = (await Conversation.get(id=conv.id)).context
    assert stored["later"] == [1, 2]
    assert stored["confirm"]["offer_id"] == 7 and stored["confirm"]["concerns"] == ["salary"]
    again = conversation_context(await Conversation.get(id=conv.id))
    assert again.invite_failures == [datetime(2026, 1, 2, 3, 4, tzinfo=UTC)]
    assert again.confirm == ctx.confirm


async def test_cleared_keys_leave_the_row(rt):
    conv = await Conversation.create(
        platform="web", user_id="c2", context={"confirm": {"offer_id": 1, "kind": "decline"}}
    )
    ctx = conversation_context(conv)
    ctx.confirm = None
    await save_context(conv, ctx)
    assert (await Conversation.get(id=conv.id)).context == {}


def test_malformed_values_read_as_absent():
    ctx = ConversationContext.model_validate(
        {"confirm": "not a dict", "invite_failures": ["yesterday"], "other": 1}
    )
    assert ctx.confirm is None and ctx.invite_failures == []
    assert ctx.model_dump(mode="json", exclude_defaults=True) == {"other": 1}
    no_offer = ConversationContext.model_validate({"confirm": {"kind": "accept"}})
    assert no_offer.confirm is None
