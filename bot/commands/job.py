"""/job: create or change a requisition from chat, through the ATS API's use cases.

    /job 前端工程师 2人 急 远程2天 偶尔加班 上海       create (or change the job of that title)
    /job #3 人数=3 指引=周一 9:30 到前台找王老师      change only the fields given
    /job                                              the open jobs

Words are read by offer_parse.read_job_words; the answer is the job as stored. See
docs/hr-commands.md.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from bot.api_schemas import RequisitionIn, field_errors, validation_context
from bot.commands.offer_parse import read_job_words
from bot.commands.registry import MAX_ARGS, Ctx, command
from bot.history_text import clip
from bot.storage.models import Requisition
from bot.usecases import ats

MAX_LISTED = 20
MAX_TITLE = 200  # the column's length
DEFAULT_WORDS = ("默认", "default")


def job_args(args: str) -> str:
    return args[:MAX_ARGS]


@command("job", parse=job_args)
async def job(ctx: Ctx, args: str) -> None:
    if not args:
        await _list(ctx)
        return
    words = read_job_words(args)
    target, title = await _target(words.plain)
    if target is None and title is None and words.plain:  # `/job #99`: no such job
        await ctx.answer(ctx.t("commands.job.not_found", id=clip(words.plain[0], 12)))
        return
    if target is not None and words.plain or title is not None:
        words.plain.pop(0)
    if words.plain and "location" not in words.fields:
        words.fields["location"] = words.plain.pop(0)
    problems = [clip(f"{k}={v}", 40) for k, v in words.bad.items()] + words.plain
    if "documents" in words.fields:
        documents, unknown = _documents(ctx, words.fields["documents"])  # type: ignore[arg-type]
        words.fields["documents"] = documents
        problems += unknown
    if problems:
        await ctx.answer(ctx.t("commands.job.unread", words=", ".join(problems)), suffix=":bad")
        return
    if target is None and title is None:
        title = str(words.fields.get("title") or "") or None  # `/job title=前端 工程师 …`
    if target is None and title is None:
        await ctx.usage()
        return
    body: dict[str, Any] = {
        "external_id": (target.external_id if target else None) or ats.chat_external_id(),
        "title": title or (target.title if target else ""),
        **words.fields,
    }
    try:
        data = RequisitionIn.model_validate(body, context=validation_context(ctx.fx.settings))
    except ValidationError as exc:
        bad = ", ".join(f"{e['field']}: {e['message']}" for e in field_errors(exc))
        await ctx.answer(ctx.t("commands.job.invalid", errors=clip(bad, 300)), suffix=":invalid")
        return
    if target is None:
        saved, _ = await ats.upsert_requisition(ctx.fx, data)
        head = ctx.t("commands.job.created", id=saved.id, title=clip(saved.title, 40))
    else:
        saved = await ats.update_requisition(ctx.fx, target, data)
        head = ctx.t("commands.job.updated", id=saved.id, title=clip(saved.title, 40))
    lines = [head, facts(ctx, saved), _documents_line(ctx, saved)]
    lines.append(
        ctx.t("commands.job.guide_set" if saved.onboarding_guide else "commands.job.guide_unset")
    )
    if target is None:
        lines.append(ctx.t("commands.job.next", title=clip(saved.title, 40)))
    await ctx.answer("\n".join(lines))


async def _target(plain: list[str]) -> tuple[Requisition | None, str | None]:
    """(the requisition to change, or None; the title of a new one, or None)."""
    if not plain:
        return None, None
    first = plain[0]
    if first.lstrip("#").isdigit():
        return await Requisition.get_or_none(id=int(first.lstrip("#")[:9])), None
    if len(first) > MAX_TITLE:  # too long to be a title: validation will say so
        return None, first
    same = await Requisition.filter(title=first).order_by("-id").first()
    return (same, None) if same is not None else (None, first)


def facts(ctx: Ctx, r: Requisition) -> str:
    parts = [
        ctx.t("commands.job.headcount", n=r.headcount),
        ctx.t(f"commands.job.urgency.{r.urgency}"),
        ctx.t(f"commands.job.status.{r.status}"),
    ]
    if r.remote_days_per_week is not None:
        parts.append(ctx.t("commands.job.remote", days=r.remote_days_per_week))
    if r.overtime:
        parts.append(ctx.t(f"commands.job.overtime.{r.overtime}"))
    if r.location:
        parts.append(clip(r.location, 30))
    return " · ".join(parts)


def _documents(ctx: Ctx, items: list[str]) -> tuple[list[str] | None, list[str]]:
    """Checklist keys from keys or their names (身份证正面); 默认 = the configured list."""
    if len(items) == 1 and items[0].lower() in DEFAULT_WORDS:
        return None, []
    names = {}
    for key in ctx.fx.settings.documents.checklist:
        names[key.lower()] = key
        names[ctx.t(f"documents.items.{key}.name").lower()] = key
    found, unknown = [], []
    for item in items:
        key = names.get(item.lower())
        (found if key else unknown).append(key or item)
    return list(dict.fromkeys(found)), unknown


def _documents_line(ctx: Ctx, r: Requisition) -> str:
    if not r.documents:
        n = len(ctx.fx.settings.documents.checklist)
        return ctx.t("commands.job.documents_default", n=n)
    names = [ctx.t(f"documents.items.{key}.name") for key in r.documents]
    return ctx.t("commands.job.documents", items="、".join(names))


async def _list(ctx: Ctx) -> None:
    jobs = await Requisition.filter(status="open").order_by("id").limit(MAX_LISTED + 1)
    if not jobs:
        await ctx.answer(ctx.t("commands.job.none"), suffix=":none")
        return
    lines = [ctx.t("commands.job.title")]
    for r in jobs[:MAX_LISTED]:
        lines.append(f"#{r.id} {clip(r.title, 30)} · {facts(ctx, r)}")
    if len(jobs) > MAX_LISTED:
        lines.append(ctx.t("commands.more_rows", more="…"))
    await ctx.answer("\n".join(lines), suffix=":list")
