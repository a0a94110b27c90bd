"""/stats [days]: the key numbers as text plus the chart as an image.

The chart is rendered off-screen (Agg, in a thread: matplotlib is slow for an event loop)
to `<data_dir>/charts/<name>.png`; the channel uploads it when it delivers the answer.
Its labels are Chinese only when a font with Chinese glyphs is installed.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from pathlib import Path
from typing import Any

from bot.analytics import LATENCY_BUCKETS, cjk_font, compute_stats, render_chart
from bot.commands.registry import Ctx, command, optional_days
from bot.history_text import clip, reason_label
from bot.i18n import Catalog
from bot.vocab import REASON_CATEGORIES

CHART_DIR = "charts"
KEEP_CHARTS = 7 * 86400  # seconds; a chart is only needed until its message is delivered
TOP_REQUISITIONS = 5


def pct(value: float) -> str:
    return f"{value:.0%}"


def chart_labels(catalog: Catalog) -> dict[str, str]:
    words = {key: str(value) for key, value in catalog.raw("stats.chart").items()}
    for category in REASON_CATEGORIES:
        words[f"reason_{category}"] = reason_label(catalog, category)
    return words


def summary(catalog: Catalog, stats: dict[str, Any]) -> str:
    t = catalog.t
    lines = [
        t("stats.title", days=stats["days"]),
        t("stats.counts", **stats),
        t(
            "stats.rates",
            decline=pct(stats["decline_rate"]),
            renege=pct(stats["renege_rate"]),
            dropoff=pct(stats["dropoff_rate"]),
        ),
    ]
    if stats["by_requisition"]:
        lines.append(t("stats.by_requisition"))
        for row in stats["by_requisition"][:TOP_REQUISITIONS]:
            line = t(
                "stats.requisition_line",
                title=clip(row["title"], 30),
                sent=row["offers_sent"],
                dropoff=pct(row["dropoff_rate"]),
                declined=row["declined"],
                expired=row["expired"],
                reneged=row["reneged"],
            )
            if row["review_job_description"]:
                line += t("stats.review_jd")
            lines.append(line)
    if stats["by_reason"]:
        reasons = " · ".join(
            f"{reason_label(catalog, k)} {v}" for k, v in stats["by_reason"].items()
        )
        lines.append(t("stats.by_reason", reasons=reasons))
    latency = stats["by_feedback_latency"]
    lines.append(
        t(
            "stats.by_latency",
            **{
                name: t(
                    "stats.latency_cell",
                    rate=pct(latency[name]["dropoff_rate"]),
                    n=latency[name]["offers_sent"],
                )
                for name in LATENCY_BUCKETS
            },
        )
    )
    lines.append(t("stats.reapply", rate=pct(stats["reapply_rate_90d"])))
    return "\n".join(lines)


def prune_charts(directory: Path) -> None:
    cutoff = time.time() - KEEP_CHARTS
    for old in directory.glob("*.png"):
        if old.stat().st_mtime < cutoff:
            old.unlink(missing_ok=True)


@command("stats", parse=optional_days)
async def show_stats(ctx: Ctx, days: int) -> None:
    stats = await compute_stats(days, now=ctx.fx.now())
    inbound = ctx.turn.inbound
    # Named after the request: processing the same message again redraws the same file.
    digest = hashlib.sha256(f"{inbound.platform}:{inbound.event_id}".encode()).hexdigest()[:16]
    name = f"stats-{days}d-{digest}.png"
    directory = ctx.fx.settings.data_dir / CHART_DIR
    words = ctx.fx.catalog if cjk_font() else Catalog("en")
    await asyncio.to_thread(render_chart, stats, directory / name, chart_labels(words))
    await asyncio.to_thread(prune_charts, directory)
    await ctx.answer(summary(ctx.fx.catalog, stats), kind="image", image_key=name)
