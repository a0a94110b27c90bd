"""The words of the /offer conversation: each question and the summary card HR confirms
(the offer's facts as the candidate will see them, then the pre-offer advisory)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from bot.commands.offer_draft import DEADLINE_DEFAULT, Draft
from bot.commands.registry import Ctx
from bot.history_text import clip
from bot.privacy import mask_phone

WEEKDAY_KEYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def money(ctx: Ctx, amount: Decimal | float | str) -> str:
    value = Decimal(str(amount))
    text = f"{value:,.0f}" if value == value.to_integral_value() else f"{value:,.2f}"
    return ctx.t("offer.salary_cny", amount=text)


def day_text(ctx: Ctx, iso: str) -> str:
    day = date.fromisoformat(iso)
    weekday = ctx.t(f"commands.offer.weekday.{WEEKDAY_KEYS[day.weekday()]}")
    return ctx.t("commands.offer.day", date=iso, weekday=weekday)


def default_days(ctx: Ctx) -> str:
    days = max(1, round(ctx.fx.settings.timers.offer_expires_after.total_seconds() / 86400))
    return ctx.t("commands.offer.days", n=days)


def contact_text(draft: Draft) -> str:
    """The candidate's contact as a group may read it (phone masked)."""
    if draft.phone:
        return mask_phone(draft.phone)
    if draft.email:
        return clip(draft.email, 40)
    if draft.identity:
        return clip(":".join(draft.identity), 40)
    return ""


def ask_text(ctx: Ctx, draft: Draft, name: str) -> str:
    if name == "name":
        return ctx.t("commands.offer.ask_name")
    if name == "deadline":
        return ctx.t("commands.offer.ask_deadline", days=default_days(ctx))
    return ctx.t(f"commands.offer.ask_{name}", name=clip(draft.name or "", 30))


def expect_text(ctx: Ctx, expect: dict) -> str:
    parts = []
    if expect.get("salary_min") is not None:
        parts.append(ctx.t("commands.offer.expect_salary", salary=money(ctx, expect["salary_min"])))
    if expect.get("remote_days_per_week") is not None:
        parts.append(ctx.t("commands.offer.expect_remote", days=expect["remote_days_per_week"]))
    if expect.get("location"):
        parts.append(clip(str(expect["location"]), 30))
    if expect.get("notes"):
        parts.append(clip(str(expect["notes"]), 60))
    return " · ".join(parts)


def summary(ctx: Ctx, draft: Draft, advice: list[str]) -> str:
    job = clip(draft.job or "", 40)
    if draft.job_id is None:
        job = ctx.t("commands.offer.job_new", title=job)
    else:
        job = f"{job} (#{draft.job_id})"
    if draft.deadline in (None, DEADLINE_DEFAULT):
        deadline = ctx.t("commands.offer.deadline_default", days=default_days(ctx))
    else:
        deadline = day_text(ctx, str(draft.deadline))
    lines = [
        ctx.t(
            "commands.offer.line_who", name=clip(draft.name or "", 30), contact=contact_text(draft)
        ),
        ctx.t("commands.offer.line_job", job=job),
        ctx.t("commands.offer.line_salary", salary=money(ctx, draft.salary or 0)),
        ctx.t("commands.offer.line_start", date=day_text(ctx, str(draft.start_date))),
        ctx.t("commands.offer.line_deadline", deadline=deadline),
    ]
    if draft.expect:
        lines.append(ctx.t("commands.offer.line_expect", expect=expect_text(ctx, draft.expect)))
    if advice:
        lines.append(ctx.t("commands.offer.advisory_title"))
        lines += [f"· {item}" for item in advice]
    lines.append(ctx.t("commands.offer.summary_hint"))
    return "\n".join(lines)
