"""/correct <alert id> <intent> [concern …]: HR's label for a reply the bot read wrong.

The alert's latest reply — as the alert keeps it (ID numbers out, phones masked) — is
stored as a `Correction` with the bot's reading and HR's label; `offerbot train-intents`
learns from it (see docs/understanding.md, "Confirmation and corrections"). Nothing about
the offer changes: HR acts on the candidate as usual.

`/correct <alert id>` alone (also what the 误判 / "wrong label" button runs) answers with
the command to send, filled in for that alert, since only HR can choose the label.
Intents and concerns are typed as their names (`accept`, `salary`) or as the labels the
bot shows (接受, 薪资); anything else is answered with the list of what is allowed.
"""

from __future__ import annotations

from typing import Any

from bot.commands.registry import Ctx, UsageError, alert_id, command
from bot.history_text import clip
from bot.storage.models import Alert, Correction
from bot.vocab import CONCERNS, INTENTS

MAX_WORDS = len(CONCERNS) + 1


def alert_and_label(args: str) -> tuple[int, list[str]]:
    """`<alert id> [intent [concern …]]`, words as typed (checked by the command)."""
    words = args.replace("，", " ").replace(",", " ").split()
    if not words or len(words) > MAX_WORDS:
        raise UsageError
    return alert_id(words[0]), [w.lower() for w in words[1:]]


def _names(ctx: Ctx, group: str, keys: tuple[str, ...]) -> dict[str, str]:
    """Every way HR may type one of `keys`: the name itself and its label, lower case."""
    found: dict[str, str] = {}
    for key in keys:
        found[key] = key
        found[ctx.t(f"commands.correct.{group}.{key}").lower()] = key
    return found


def _reading(ctx: Ctx, intent: str, concerns: list[str]) -> str:
    label = ctx.t(f"commands.correct.intents.{intent}")
    if not concerns:
        return label
    separator = ctx.t("alerts.list_separator")
    listed = separator.join(ctx.t(f"commands.correct.concerns.{c}") for c in concerns)
    return ctx.t("commands.correct.with_concerns", intent=label, concerns=listed)


async def _unknown_word(ctx: Ctx, key: str, word: str, group: str, names: tuple[str, ...]) -> None:
    """A label HR typed that is not one: say which, and list the ones there are."""
    choices = {group: _choices(ctx, group, names)}
    await ctx.answer(
        ctx.t(f"commands.correct.{key}", word=clip(word, 20), **choices), suffix=":bad"
    )


def _choices(ctx: Ctx, group: str, keys: tuple[str, ...]) -> str:
    return " / ".join(f"{k} {ctx.t(f'commands.correct.{group}.{k}')}" for k in keys)


async def _last_reply(ctx: Ctx, number: int) -> tuple[Alert, dict[str, Any]] | None:
    """The alert and its latest reply read from free text; otherwise answers why not."""
    alert = await Alert.get_or_none(id=number)
    if alert is None:
        await ctx.answer(ctx.t("commands.alert_not_found", id=number), suffix=":none")
        return None
    replies = alert.data.get("replies") or [{}]
    if alert.candidate_id is None or "intent" not in replies[-1]:
        await ctx.answer(ctx.t("commands.correct.not_a_reply", id=number), suffix=":none")
        return None
    return alert, replies[-1]


@command("correct", parse=alert_and_label)
async def correct(ctx: Ctx, args: tuple[int, list[str]]) -> None:
    number, words = args
    found = await _last_reply(ctx, number)
    if found is None:
        return
    alert, reply = found
    bot_concerns = [c for c in reply.get("concerns", []) if c in CONCERNS]
    if not words:
        await ctx.answer(
            ctx.t(
                "commands.correct.prompt",
                id=alert.id,
                text=clip(reply.get("text", ""), 200),
                reading=_reading(ctx, reply["intent"], bot_concerns),
                intents=_choices(ctx, "intents", INTENTS),
                concerns=_choices(ctx, "concerns", CONCERNS),
            ),
            suffix=":prompt",
        )
        return
    intents, concerns = _names(ctx, "intents", INTENTS), _names(ctx, "concerns", CONCERNS)
    intent = intents.get(words[0])
    if intent is None:
        await _unknown_word(ctx, "bad_intent", words[0], "intents", INTENTS)
        return
    unknown = [w for w in words[1:] if w not in concerns]
    if unknown:
        await _unknown_word(ctx, "bad_concern", unknown[0], "concerns", CONCERNS)
        return
    named = {concerns[w] for w in words[1:]}
    hr_concerns = [c for c in CONCERNS if c in named]
    await _store(ctx, alert, reply, bot_concerns, intent, hr_concerns)
    await ctx.answer(
        ctx.t(
            "commands.correct.done",
            id=alert.id,
            text=clip(reply.get("text", ""), 200),
            before=_reading(ctx, reply["intent"], bot_concerns),
            after=_reading(ctx, intent, hr_concerns),
        )
    )


async def _store(
    ctx: Ctx,
    alert: Alert,
    reply: dict[str, Any],
    bot_concerns: list[str],
    intent: str,
    concerns: list[str],
) -> None:
    """One correction per alert and reply: a second /correct replaces HR's label.
    (Erasing the candidate empties the alert, so an erased person's words never get here.)"""
    text = str(reply.get("text", ""))
    label = {"hr_intent": intent, "hr_concerns": concerns, "by": ctx.actor}
    current = await Correction.filter(alert_id=alert.id, text=text).first()
    if current is not None:
        await Correction.filter(id=current.id).update(**label)
    else:
        await Correction.create(
            candidate_id=alert.candidate_id,
            alert_id=alert.id,
            text=text,
            bot_intent=str(reply["intent"]),
            bot_concerns=bot_concerns,
            model=str(reply.get("model", ""))[:64],
            **label,
        )
    await ctx.fx.record(
        alert.candidate_id,
        "intent_corrected",
        {"alert_id": alert.id, "intent": intent, "concerns": concerns},
        offer_id=alert.offer_id,
    )
