"""Statistics behind /stats and GET /api/v1/stats, and the chart /stats sends.

The window holds the offers *sent* (created) in the last `days` days, whatever happened
to them since. Counts are by the offer's current status (`accepted` includes offers that
went on to `onboarded`); rates are fractions of offers sent minus withdrawn. Everything
here reads ids, statuses, dates and reason categories only, so the numbers stay the same
after a candidate's personal data is erased.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.history import offer_ended_at
from bot.storage.models import Application, Interview, Offer, Reason, Requisition
from bot.vocab import LOST_STATUSES

REAPPLY_WINDOW = timedelta(days=90)
LOSSES = ("declined", "expired", "reneged")
LATENCY_BUCKETS = ("le_1d", "d1_2", "gt_2d")
# A requisition gets the "review the job description" hint when at least this many of its
# losses, and at least half of them, were `info_mismatch`.
MISMATCH_MIN = 2


def _rate(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def tally(statuses: list[str]) -> dict[str, Any]:
    """Counts and rates for a group of offers, by their statuses."""
    c = Counter(statuses)
    sent, withdrawn = len(statuses), c["withdrawn"]
    declined, expired, reneged = c["declined"], c["expired"], c["reneged"]
    base = sent - withdrawn
    return {
        "offers_sent": sent,
        "accepted": c["accepted"] + c["onboarded"],
        "declined": declined,
        "expired": expired,
        "reneged": reneged,
        "withdrawn": withdrawn,
        "decline_rate": _rate(declined, base),
        "renege_rate": _rate(reneged, base),
        "dropoff_rate": _rate(declined + expired + reneged, base),
    }


def latency_bucket(held_at: datetime, feedback_sent_at: datetime) -> str:
    waited = feedback_sent_at - held_at
    if waited <= timedelta(days=1):
        return "le_1d"
    if waited <= timedelta(days=2):
        return "d1_2"
    return "gt_2d"


async def _reason_categories(offers: list[dict[str, Any]]) -> dict[int, str]:
    """offer id → reason category: the offer's own field, else its latest Reason row."""
    found = {o["id"]: o["reason_category"] for o in offers if o["reason_category"]}
    missing = [o["id"] for o in offers if o["status"] in LOST_STATUSES and o["id"] not in found]
    if missing:
        rows = (
            await Reason.filter(offer_id__in=missing).order_by("id").values("offer_id", "category")
        )
        for row in rows:
            found[row["offer_id"]] = row["category"]
    return found


async def _feedback_buckets(application_ids: set[int]) -> dict[int, str]:
    """application id → latency bucket of its last interview (only when feedback was sent)."""
    rows = await Interview.filter(application_id__in=list(application_ids)).values(
        "application_id", "round", "held_at", "feedback_sent_at"
    )
    last: dict[int, dict[str, Any]] = {}
    for row in rows:
        current = last.get(row["application_id"])
        if current is None or (row["held_at"], row["round"]) > (
            current["held_at"],
            current["round"],
        ):
            last[row["application_id"]] = row
    return {
        app_id: latency_bucket(row["held_at"], row["feedback_sent_at"])
        for app_id, row in last.items()
        if row["feedback_sent_at"] is not None
    }


async def _by_requisition(
    offers: list[dict[str, Any]], reasons: dict[int, str]
) -> list[dict[str, Any]]:
    groups: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for offer in offers:
        groups[offer["requisition_id"]].append(offer)
    info = {
        r["id"]: r
        for r in await Requisition.filter(id__in=list(groups)).values("id", "external_id", "title")
    }
    out = []
    for req_id, group in groups.items():
        numbers = tally([o["status"] for o in group])
        losses = numbers["declined"] + numbers["expired"] + numbers["reneged"]
        mismatch = sum(
            1
            for o in group
            if o["status"] in LOST_STATUSES and reasons.get(o["id"]) == "info_mismatch"
        )
        out.append(
            {
                "requisition_id": req_id,
                "external_id": info.get(req_id, {}).get("external_id"),
                "title": info.get(req_id, {}).get("title", ""),
                **numbers,
                "review_job_description": mismatch >= MISMATCH_MIN and 2 * mismatch >= losses,
            }
        )
    out.sort(key=lambda r: (-r["offers_sent"], r["requisition_id"]))
    return out


async def _reapply_rate(since: datetime, now: datetime) -> float:
    """Share of applications in the window that came within 90 days of a lost offer."""
    apps = await Application.filter(applied_at__gte=since, applied_at__lte=now).values(
        "applied_at", "reapplication_of"
    )
    earlier_ids = {a["reapplication_of"] for a in apps if a["reapplication_of"]}
    lost_dates: dict[int, list[datetime]] = defaultdict(list)
    if earlier_ids:
        lost = await Offer.filter(application_id__in=list(earlier_ids), status__in=LOST_STATUSES)
        for offer in lost:
            lost_dates[offer.application_id].append(offer_ended_at(offer))
    recent = sum(
        1
        for a in apps
        if any(
            timedelta(0) <= a["applied_at"] - when <= REAPPLY_WINDOW
            for when in lost_dates.get(a["reapplication_of"], ())
        )
    )
    return _rate(recent, len(apps))


async def compute_stats(days: int, now: datetime | None = None) -> dict[str, Any]:
    """`GET /api/v1/stats` (docs/reapply-stats.md) for offers sent in the last `days`."""
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise ValueError("days must be a positive whole number")
    now = now or datetime.now(UTC)
    since = now - timedelta(days=days)
    offers = await Offer.filter(created_at__gte=since, created_at__lte=now).values(
        "id", "status", "requisition_id", "application_id", "reason_category"
    )
    reasons = await _reason_categories(offers)
    by_reason = Counter(
        reasons[o["id"]] for o in offers if o["status"] in LOST_STATUSES and o["id"] in reasons
    )
    buckets = await _feedback_buckets({o["application_id"] for o in offers})
    by_latency: dict[str, list[str]] = {name: [] for name in LATENCY_BUCKETS}
    for offer in offers:
        bucket = buckets.get(offer["application_id"])
        if bucket:
            by_latency[bucket].append(offer["status"])
    return {
        "days": days,
        **tally([o["status"] for o in offers]),
        "by_requisition": await _by_requisition(offers, reasons),
        "by_reason": dict(by_reason.most_common()),
        "by_feedback_latency": {name: tally(s) for name, s in by_latency.items()},
        "reapply_rate_90d": await _reapply_rate(since, now),
    }


# -- the chart ------------------------------------------------------------------------

# Fonts with Chinese glyphs, in order of preference; without one the chart is in English.
_CJK_FONTS = (
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "WenQuanYi Micro Hei",
    "WenQuanYi Zen Hei",
    "Microsoft YaHei",
    "PingFang SC",
    "SimHei",
    "Droid Sans Fallback",
)
_OUTCOME_COLORS = {
    "accepted": "#2e7d32",
    "declined": "#c62828",
    "expired": "#ef6c00",
    "reneged": "#6a1b9a",
    "withdrawn": "#757575",
    "pending": "#1565c0",
}


def cjk_font() -> str | None:
    from matplotlib import font_manager

    names = {f.name for f in font_manager.fontManager.ttflist}
    return next((name for name in _CJK_FONTS if name in names), None)


def render_chart(stats: dict[str, Any], path: Path, labels: dict[str, str]) -> Path:
    """Draw the /stats chart (PNG) off-screen: outcomes, losses by requisition, drop-off
    by feedback latency, loss reasons. `labels` are the words (catalog `stats.chart`)."""
    import matplotlib

    font = cjk_font()
    rc = {"font.family": [font, "DejaVu Sans"]} if font else {}
    with matplotlib.rc_context(rc):
        fig = chart_figure(stats, labels, cjk=font is not None)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, format="png")
    return path


def chart_figure(stats: dict[str, Any], labels: dict[str, str], *, cjk: bool = True):
    """The chart's figure: a panel with nothing to draw says so (no empty axes)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 7.5), dpi=100)
    FigureCanvasAgg(fig)
    (ax_out, ax_req), (ax_lat, ax_reason) = fig.subplots(2, 2)
    _outcomes(ax_out, stats, labels)
    _requisitions(ax_req, stats, labels, cjk=cjk)
    _latency(ax_lat, stats, labels)
    _reasons(ax_reason, stats, labels)
    fig.suptitle(
        labels["title"].format(
            days=stats["days"],
            decline=f"{stats['decline_rate']:.0%}",
            renege=f"{stats['renege_rate']:.0%}",
            dropoff=f"{stats['dropoff_rate']:.0%}",
        ),
        fontsize=13,
    )
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    return fig


def _whole_numbers(axis) -> None:
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=True))


def _empty(ax, labels: dict[str, str]) -> None:
    ax.text(0.5, 0.5, labels["no_data"], ha="center", va="center", color="#888888")
    ax.set_xticks([])
    ax.set_yticks([])


def _outcomes(ax, stats: dict[str, Any], labels: dict[str, str]) -> None:
    pending = stats["offers_sent"] - sum(
        stats[k] for k in ("accepted", "declined", "expired", "reneged", "withdrawn")
    )
    values = {k: stats[k] for k in ("accepted", "declined", "expired", "reneged", "withdrawn")}
    values["pending"] = pending
    ax.set_title(labels["outcomes"].format(sent=stats["offers_sent"]))
    if not stats["offers_sent"]:
        _empty(ax, labels)
        return
    names = list(values)
    bars = ax.bar(
        [labels[n] for n in names],
        [values[n] for n in names],
        color=[_OUTCOME_COLORS[n] for n in names],
    )
    ax.bar_label(bars)
    ax.tick_params(axis="x", labelrotation=20)
    _whole_numbers(ax.yaxis)
    ax.margins(y=0.12)


def requisition_name(row: dict[str, Any], can_draw_chinese: bool) -> str:
    """The title, or the requisition's id when the title has glyphs no installed font has."""
    title = row["title"][:14]
    if not title or not (can_draw_chinese or title.isascii()):
        title = row["external_id"] or f"#{row['requisition_id']}"
    return title + (" (!)" if row["review_job_description"] else "")


def _requisitions(ax, stats: dict[str, Any], labels: dict[str, str], cjk: bool) -> None:
    rows = stats["by_requisition"][:6]
    ax.set_title(labels["by_requisition"])
    if not any(r[k] for r in rows for k in LOSSES):  # offers, none lost: nothing to draw
        _empty(ax, labels)
        return
    names = [requisition_name(r, cjk) for r in rows][::-1]
    lost = {k: [r[k] for r in rows][::-1] for k in LOSSES}
    left = [0] * len(rows)
    for key in LOSSES:
        ax.barh(names, lost[key], left=left, color=_OUTCOME_COLORS[key], label=labels[key])
        left = [a + b for a, b in zip(left, lost[key], strict=True)]
    ax.legend(fontsize=8, loc="lower right")
    ax.set_xlim(left=0)
    ax.set_xlabel(labels["lost_offers"])
    _whole_numbers(ax.xaxis)


def _latency(ax, stats: dict[str, Any], labels: dict[str, str]) -> None:
    data = stats["by_feedback_latency"]
    ax.set_title(labels["by_latency"])
    if not any(data[b]["offers_sent"] for b in LATENCY_BUCKETS):
        _empty(ax, labels)
        return
    rates = [data[b]["dropoff_rate"] * 100 for b in LATENCY_BUCKETS]
    bars = ax.bar([labels[b] for b in LATENCY_BUCKETS], rates, color="#c62828")
    ax.bar_label(bars, labels=[f"n={data[b]['offers_sent']}" for b in LATENCY_BUCKETS])
    ax.set_ylabel(labels["dropoff_percent"])
    ax.set_ylim(0, 110)


def _reasons(ax, stats: dict[str, Any], labels: dict[str, str]) -> None:
    reasons = list(stats["by_reason"].items())[:8][::-1]
    ax.set_title(labels["by_reason"])
    if not reasons:
        _empty(ax, labels)
        return
    bars = ax.barh(
        [labels.get(f"reason_{k}", k) for k, _ in reasons],
        [v for _, v in reasons],
        color="#455a64",
    )
    ax.bar_label(bars, padding=2)
    _whole_numbers(ax.xaxis)
    ax.margins(x=0.1)
