"""/offer: HR sends an offer from chat, in one line or answering the bot's questions.

    /offer 张三 13800138000 前端工程师 25k 2027-01-04      → the summary at once
    /offer                                                → the bot asks field by field

The summary shows the pre-offer advisory (the same expectation check the offer's creation
runs) and three buttons with text twins: 确认 / 修改 / 取消. Only 确认 creates the offer,
through `hr_chat.offer_in_chat`, the ATS API's own use cases; the platforms were asked
before the worker's transaction (`prepare`, called from bot/flows/routes.py `read_ahead`).
The draft lives in the database (offer_draft.py). See docs/hr-commands.md.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from typing import Any

from pydantic import ValidationError
from tortoise.transactions import in_transaction

from bot.channels.base import Action, Form, FormField, Inbound
from bot.commands import offer_draft as drafts
from bot.commands.offer_card import ask_text, summary
from bot.commands.offer_draft import DEADLINE_DEFAULT, Draft
from bot.commands.offer_parse import (
    contact,
    parse_date,
    parse_deadline,
    parse_expectations,
    parse_money,
    read_offer_words,
)
from bot.commands.registry import MAX_ARGS, Ctx, command
from bot.flows.router import Turn
from bot.history_text import clip
from bot.runtime import Runtime
from bot.services import identity, reach
from bot.storage.models import Outbox
from bot.usecases import ats, hr_chat

log = logging.getLogger(__name__)

CHOICES = {
    "confirm": ("确认", "确认发送", "发送", "confirm", "send", "ok", "yes"),
    "edit": ("修改", "改", "edit", "change"),
    "cancel": ("取消", "算了", "cancel", "stop"),
}
BUTTONS = {"offer_confirm": "confirm", "offer_edit": "edit", "offer_cancel": "cancel"}
FORM_ACTION = "offer_form"  # the Feishu form's submit button
DEFAULT_WORDS = ("默认", "default")


@dataclass(frozen=True)
class Prepared:
    """What the platforms answered for a confirmation, asked before the transaction."""

    actor: str
    no: int
    lookup: identity.Lookup


def choice(inbound: Inbound) -> str | None:
    """'confirm' / 'edit' / 'cancel' for a summary button or its typed twin (also
    `/offer confirm` and `/cancel`)."""
    if inbound.kind == "action":
        return BUTTONS.get(str(inbound.action.get("action")))
    text = " ".join(inbound.text.strip().lower().split())
    for prefix in ("/offer ", "／offer "):
        if text.startswith(prefix):
            text = text[len(prefix) :]
    if text in ("/cancel", "／cancel"):
        return "cancel"
    for name, words in CHOICES.items():
        if text in words:
            return name
    return None


def today(ctx: Ctx) -> date:
    return ctx.fx.now().astimezone(ctx.fx.settings.company.tz).date()


def where(turn: Turn) -> str:
    return f"{turn.inbound.platform}:{turn.reply_address()}"


# -- the command ------------------------------------------------------------------------


def offer_args(args: str) -> str:
    return args[:MAX_ARGS]


@command("offer", parse=offer_args)
async def offer(ctx: Ctx, args: str) -> None:
    draft, expired = await drafts.load(ctx.actor, ctx.fx.now())
    picked = choice(ctx.turn.inbound)
    if picked is not None:
        if draft is None or expired or draft.where != where(ctx.turn):
            await ctx.answer(ctx.t("commands.offer.none"), suffix=":none")
            return
        await choose(ctx, draft, picked)
        return
    if not args and draft is not None and not expired and draft.where == where(ctx.turn):
        await advance(ctx, draft)  # where were we?
        return
    fresh = Draft(actor=ctx.actor, where=where(ctx.turn))
    words = read_offer_words(args, today(ctx))
    fresh.take(words)
    fresh.guided = any(not fresh.has(name) for name in drafts.REQUIRED)
    problem = _problem(ctx, words.bad, words.leftover)
    if words.expect is not None:
        problem = "\n".join(p for p in (problem, _take_expect(ctx, fresh, words.expect)) if p)
    if _deadline_after_start(fresh):
        fresh.deadline = None
        problem = "\n".join(p for p in (problem, ctx.t("commands.offer.deadline_after_start")) if p)
    await advance(ctx, fresh, problem=problem)


@command("cancel")
async def cancel(ctx: Ctx, _: None) -> None:
    draft, _ = await drafts.load(ctx.actor, ctx.fx.now())
    if draft is None:
        await ctx.answer(ctx.t("commands.offer.none"), suffix=":none")
        return
    await choose(ctx, draft, "cancel")


def _problem(ctx: Ctx, bad: dict[str, str], leftover: list[str]) -> str:
    asked = dict.fromkeys({"phone": "contact", "email": "contact"}.get(n, n) for n in bad)
    lines = [ctx.t(f"commands.offer.bad_{name}") for name in asked if name in drafts.ORDER]
    if leftover:
        lines.append(ctx.t("commands.offer.unread", words=clip(" ".join(leftover), 60)))
    return "\n".join(lines)


# -- a turn in the draft's chat (answers, buttons, their twins) ---------------------------


async def draft_turn(ctx: Ctx, draft: Draft, expired: bool) -> None:
    if expired:
        await ctx.answer(ctx.t("commands.offer.expired"), suffix=":expired")
        return
    inbound = ctx.turn.inbound
    if inbound.kind == "action" and inbound.action.get("action") == FORM_ACTION:
        await form_submit(ctx, draft)
        return
    picked = choice(inbound)
    if picked is not None:
        await choose(ctx, draft, picked)
        return
    await answer_field(ctx, draft, ctx.turn.text[:MAX_ARGS])


async def answer_field(ctx: Ctx, draft: Draft, text: str) -> None:
    """HR's answer to the last question (or `field=value` edits at any point)."""
    day = today(ctx)
    asked = draft.asked or "summary"
    problem = ""
    words = read_offer_words(text, day)
    typed = (words.phone, words.email, words.identity, words.salary, words.start_date)
    if "=" in text or "＝" in text or (asked == "name" and any(v is not None for v in typed)):
        # Several fields in one answer ("张三 13800138000 …", "月薪=26k 入职=1月11日").
        draft.take(words)
        if words.expect is not None:
            problem = _take_expect(ctx, draft, words.expect)
        problem = "\n".join(p for p in (_problem(ctx, words.bad, words.leftover), problem) if p)
    elif asked == "summary":
        await ctx.answer(ctx.t("commands.offer.choose"), suffix=":choose")
        return
    else:
        problem = _take(ctx, draft, asked, text.strip(), day)
    if _deadline_after_start(draft):
        draft.deadline = None
        problem = "\n".join(p for p in (problem, ctx.t("commands.offer.deadline_after_start")) if p)
    draft.no += 1
    await advance(ctx, draft, problem=problem)


def _deadline_after_start(draft: Draft) -> bool:
    """A reply deadline after the first working day is a typo."""
    if not draft.start_date or draft.deadline in (None, DEADLINE_DEFAULT):
        return False
    return str(draft.deadline) > str(draft.start_date)


def _take(ctx: Ctx, draft: Draft, asked: str, text: str, day: date) -> str:
    """Store one answer; the polite re-ask when it does not read."""
    bad = ctx.t(f"commands.offer.bad_{asked}")
    if asked in ("name", "job"):
        if not text or len(text) > 200:
            return bad
        setattr(draft, asked, text)
        if asked == "job":
            draft.job_id = None
            draft.extra.pop("job_new", None)
    elif asked == "contact":
        found = contact(text)
        if found is None:
            return bad
        draft.phone = str(found.get("phone") or draft.phone or "") or None
        draft.email = str(found.get("email") or draft.email or "") or None
        if "identity" in found:
            draft.identity = list(found["identity"])  # type: ignore[arg-type]
    elif asked == "salary":
        amount = parse_money(text)
        if amount is None:
            return bad
        draft.salary = str(amount)
    elif asked == "start_date":
        found_day = parse_date(text, day)
        if found_day is None:
            return bad
        draft.start_date = found_day.isoformat()
    elif asked == "deadline":
        if text.lower() in DEFAULT_WORDS:
            draft.deadline = DEADLINE_DEFAULT
        else:
            deadline = parse_deadline(text, day)
            if deadline is None:
                return bad
            draft.deadline = deadline.isoformat()
    elif asked == "expect":
        return _take_expect(ctx, draft, text)
    return ""


def _take_expect(ctx: Ctx, draft: Draft, text: str) -> str:
    found = parse_expectations(text)
    if found is None:
        return ctx.t("commands.offer.bad_expect")
    draft.expect = {k: (float(v) if k == "salary_min" else v) for k, v in found.items()}
    return ""


# -- moving on: the next question, or the summary ------------------------------------------


async def advance(ctx: Ctx, draft: Draft, *, problem: str = "") -> None:
    if not await _resolve_job(ctx, draft, problem):
        return
    missing = draft.missing()
    if missing is None:
        try:
            chat = draft.chat_offer(ctx.fx)
        except ValidationError as exc:
            fields = drafts.invalid_fields(exc)
            for name in fields:
                _forget(draft, name)
            problem = "\n".join([problem, *(ctx.t(f"commands.offer.bad_{n}") for n in fields)])
            problem = problem.strip()
            draft.guided = True  # the optional fields it forgot are asked again
            missing = draft.missing()
        else:
            draft.asked = "summary"
            await drafts.save(ctx.fx, draft)
            advice = await hr_chat.advisory_preview(ctx.fx, chat)
            text = summary(ctx, draft, advice)
            await ctx.answer(
                f"{problem}\n{text}".strip(),
                suffix=":summary",
                kind="card",
                title=ctx.t("commands.offer.summary_title"),
                actions=_buttons(ctx, draft),
            )
            return
    draft.asked = missing
    await drafts.save(ctx.fx, draft)
    question = ask_text(ctx, draft, missing or "name")
    form = _form(ctx, draft) if _wants_form(ctx, draft, missing) else None
    extra: dict[str, Any] = {"form": form, "kind": "card"} if form else {}
    await ctx.answer(f"{problem}\n{question}".strip(), suffix=":ask", **extra)


# Feishu cards have forms: the first question also comes as one form with every field
# (the text still asks field by field, so typing works as everywhere else).
FORM_PLATFORMS = ("feishu",)


def _wants_form(ctx: Ctx, draft: Draft, missing: str | None) -> bool:
    nothing_yet = not any(draft.has(name) for name in drafts.ORDER)
    return ctx.turn.inbound.platform in FORM_PLATFORMS and missing == "name" and nothing_yet


def _form(ctx: Ctx, draft: Draft) -> Form:
    fields = tuple(
        FormField(
            name=name,
            label=ctx.t(f"commands.offer.form.{name}"),
            placeholder=ctx.t(f"commands.offer.form.{name}_hint"),
        )
        for name in drafts.ORDER
    )
    submit = Action(
        key=FORM_ACTION,
        label=ctx.t("commands.offer.form.submit"),
        command="/offer",
        value={"draft": draft.no},
        style="primary",
    )
    return Form(fields=fields, submit=submit)


async def form_submit(ctx: Ctx, draft: Draft) -> None:
    """The Feishu form's values, each read as the answer to its question."""
    values = ctx.turn.inbound.action.get("form")
    values = values if isinstance(values, dict) else {}
    day = today(ctx)
    problems = []
    for name in drafts.ORDER:
        text = str(values.get(name) or "").strip()[:MAX_ARGS]
        if text and (problem := _take(ctx, draft, name, text, day)):
            problems.append(problem)
    if not str(values.get("deadline") or "").strip() and draft.deadline is None:
        draft.deadline = DEADLINE_DEFAULT  # left empty: the default, not a question
    if not str(values.get("expect") or "").strip() and draft.expect is None:
        draft.expect = {}
    if _deadline_after_start(draft):
        draft.deadline = None
        problems.append(ctx.t("commands.offer.deadline_after_start"))
    draft.no += 1
    await advance(ctx, draft, problem="\n".join(problems))


def _forget(draft: Draft, name: str) -> None:
    if name == "contact":
        draft.phone = draft.email = draft.identity = None  # type: ignore[assignment]
    elif name in ("job",):
        draft.job, draft.job_id = None, None
    elif hasattr(draft, name):
        setattr(draft, name, None)


async def _resolve_job(ctx: Ctx, draft: Draft, problem: str) -> bool:
    """Name → requisition; several matches are asked about (False: a question was sent)."""
    if draft.job is None or draft.job_id is not None or draft.extra.get("job_new"):
        return True
    found = await drafts.find_jobs(draft.job)
    exact = [r for r in found if r.title == draft.job.strip() or f"#{r.id}" == draft.job.strip()]
    if len(exact) == 1 or len(found) == 1:
        match = exact[0] if len(exact) == 1 else found[0]
        draft.job_id, draft.job = match.id, match.title
        return True
    if not found:
        if draft.job.strip().lstrip("#").isdigit():
            draft.job = None
            problem = "\n".join(p for p in (problem, ctx.t("commands.offer.no_job_id")) if p)
            await advance(ctx, draft, problem=problem)
            return False
        draft.extra["job_new"] = True
        return True
    lines = [ctx.t("commands.offer.pick_job", count=len(found), job=clip(draft.job, 30))]
    lines += [ctx.t("commands.offer.job_line", id=r.id, title=clip(r.title, 40)) for r in found]
    draft.job, draft.asked = None, "job"
    await drafts.save(ctx.fx, draft)
    await ctx.answer("\n".join(p for p in (problem, *lines) if p), suffix=":pick")
    return False


def _buttons(ctx: Ctx, draft: Draft) -> tuple[Action, ...]:
    value: dict[str, Any] = {"draft": draft.no}
    return (
        Action(
            key="offer_confirm",
            label=ctx.t("commands.offer.button_confirm"),
            command=ctx.t("commands.offer.word_confirm"),
            value=value,
            style="primary",
        ),
        Action(
            key="offer_edit",
            label=ctx.t("commands.offer.button_edit"),
            command=ctx.t("commands.offer.word_edit"),
            value=value,
        ),
        Action(
            key="offer_cancel",
            label=ctx.t("commands.offer.button_cancel"),
            command=ctx.t("commands.offer.word_cancel"),
            value=value,
            style="danger",
        ),
    )


# -- 确认 / 修改 / 取消 ----------------------------------------------------------------------


async def choose(ctx: Ctx, draft: Draft, picked: str) -> None:
    if picked == "cancel":
        await drafts.drop(ctx.actor)
        await ctx.answer(ctx.t("commands.offer.cancelled"), suffix=":cancelled")
        return
    if draft.asked != "summary" or draft.missing() is not None:
        await advance(ctx, draft)  # nothing to confirm or edit yet: the open question
        return
    inbound = ctx.turn.inbound
    if inbound.kind == "action" and inbound.action.get("draft") != draft.no:
        # A button on an older summary: show the current one rather than confirm unseen terms.
        await advance(ctx, draft, problem=ctx.t("commands.offer.stale_card"))
        return
    if picked == "edit":
        await ctx.answer(ctx.t("commands.offer.edit_hint"), suffix=":edit")
        return
    await _confirm(ctx, draft)


async def _confirm(ctx: Ctx, draft: Draft) -> None:
    prepared = ctx.turn.reading
    if not isinstance(prepared, Prepared) or (prepared.actor, prepared.no) != (
        ctx.actor,
        draft.no,
    ):
        await ctx.answer(ctx.t("commands.offer.retry"), suffix=":retry")
        return
    chat = draft.chat_offer(ctx.fx)
    try:
        async with in_transaction():  # a savepoint: a refused offer leaves no half rows
            made, extra = await hr_chat.offer_in_chat.store(ctx.fx, chat, lookup=prepared.lookup)
    except ats.Conflict:
        await ctx.answer(ctx.t("commands.offer.conflict", name=draft.name), suffix=":conflict")
        return
    except ats.NotFound:
        draft.job, draft.job_id = None, None
        await advance(ctx, draft, problem=ctx.t("commands.offer.no_job_id"))
        return
    await drafts.drop(ctx.actor)
    if "invite_code" in extra:
        how = [ctx.t("commands.offer.invite_code", code=extra["invite_code"])]
        # The link may be the candidate's own page: never into a group (docs/sms-email.md).
        if extra.get("invite_url") and ctx.private:
            how.append(ctx.t("commands.offer.invite_link", url=extra["invite_url"]))
        routes = await _invited_outside(made.id)
        if routes:  # the bot sent the invite itself, by SMS and/or e-mail
            said = ctx.t("reach.list_separator").join(ctx.t(f"reach.route.{r}") for r in routes)
            text = ctx.t("commands.offer.invited_outside", id=made.id, name=draft.name,
                         routes=said, how="\n".join(how))  # fmt: skip
        else:
            text = ctx.t("commands.offer.invited", id=made.id, name=draft.name, how="\n".join(how))
    else:
        text = ctx.t("commands.offer.sent", id=made.id, name=draft.name)
    await ctx.answer(text, suffix=":sent")


async def _invited_outside(offer_id: int) -> list[str]:
    """The routes (sms, email) the offer's invite was queued on."""
    rows = await Outbox.filter(idempotency_key__startswith=f"offer:{offer_id}:invite:")
    return sorted({r.platform for r in rows if r.platform in reach.ROUTES})


# -- before the transaction --------------------------------------------------------------


async def prepare(rt: Runtime, inbound: Inbound) -> Prepared | None:
    """For a confirmation: ask the platforms now (find the candidate by phone, draft an
    invite), so nothing is asked while the worker holds its transaction. Reads only."""
    if choice(inbound) != "confirm":
        return None
    actor = f"{inbound.platform}:{inbound.sender_id}"
    fx = rt.fx(actor=actor)
    draft, expired = await drafts.load(actor, fx.now(), remove=False)
    if draft is None or expired or draft.asked != "summary" or draft.missing() is not None:
        return None
    try:
        lookup = await hr_chat.offer_in_chat.ask(fx, draft.chat_offer(fx))
    except Exception as exc:  # noqa: BLE001 - the turn answers "send 确认 again"
        log.warning("preparing the offer failed: %s", type(exc).__name__)
        return None
    return Prepared(actor, draft.no, lookup)
