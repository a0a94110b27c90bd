"""Statistics (SPEC §3.3 `GET /api/v1/stats`, `/stats`) on a seeded data set whose
expected figures are worked out by hand below."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from PIL import Image

from bot.analytics import compute_stats, latency_bucket, render_chart
from bot.commands.stats import chart_labels
from bot.i18n import Catalog
from tests.helpers import auth
from tests.hr_data import application, ask, candidate, interview, offer, requisition

H = timedelta(hours=1)
D = timedelta(days=1)


async def seed(now):
    """Ten offers sent in the last 30 days, two outside the window, four applications in it.

    | offer | req | status    | reason (how stored)     | last interview → feedback |
    | o1    | R1  | accepted  |                         | 3h   (round 1 had 2h)     |
    | o2    | R1  | declined  | salary                  | 30h                       |
    | o3    | R1  | reneged   | competing_offer         | 72h                       |
    | o4    | R1  | sent      |                         | no interviews             |
    | o5    | R1  | withdrawn |                         | round 2 without feedback  |
    | o6    | R2  | declined  | info_mismatch           | 24h (boundary: ≤1 day)    |
    | o7    | R2  | expired   |                         | 50h                       |
    | o8    | R2  | reneged   | info_mismatch (Reason)  | 48h (boundary: 1–2 days)  |
    | o9    | R2  | onboarded |                         | 1h                        |
    | o10   | R3  | declined  | salary (Reason row)     | 100h                      |
    | o11   | R1  | declined, sent 60 days ago: outside the window            |
    | o12   | R3  | accepted, sent 31 days ago: outside the window            |
    """
    r1 = await requisition("后端工程师", external_id="R1")
    r2 = await requisition("销售经理", external_id="R2")
    r3 = await requisition("设计师", external_id="R3")
    rows = [
        (r1, "accepted", None, False, [2 * H, 3 * H]),
        (r1, "declined", "salary", False, [30 * H]),
        (r1, "reneged", "competing_offer", False, [72 * H]),
        (r1, "sent", None, False, []),
        (r1, "withdrawn", None, False, [H, None]),
        (r2, "declined", "info_mismatch", False, [24 * H]),
        (r2, "expired", None, False, [50 * H]),
        (r2, "reneged", "info_mismatch", True, [48 * H]),
        (r2, "onboarded", None, False, [H]),
        (r3, "declined", "salary", True, [100 * H]),
    ]
    for n, (req, status, reason, as_row, feedback) in enumerate(rows):
        who = await candidate(f"候选人{n}", f"1380000{n:04d}")
        app = await application(who, req, now - 45 * D)
        for round_no, after in enumerate(feedback, 1):
            await interview(app, round_no, now - (40 - round_no) * D, feedback_after=after)
        await offer(
            app,
            status,
            sent_at=now - (25 - n) * D,
            reason=reason,
            reason_text="…",
            reason_row=as_row,
        )
    # Outside the window.
    lost_person = await candidate("老候选人")
    lost_app = await application(lost_person, r1, now - 70 * D)
    await offer(lost_app, "declined", sent_at=now - 60 * D, reason="salary")
    old_person = await candidate("更早的候选人")
    old_app = await application(old_person, r2, now - 220 * D)
    await offer(old_app, "declined", sent_at=now - 201 * D, closed_at=now - 200 * D)
    late = await application(await candidate("上月"), r3, now - 45 * D)
    await offer(late, "accepted", sent_at=now - 31 * D)
    # Applications in the window: one re-application 39 days after a loss (counts), one
    # 185 days after (does not), two first applications → 1 of 4.
    await application(lost_person, r2, now - 20 * D, reapplication_of=lost_app.id)
    await application(old_person, r3, now - 15 * D, reapplication_of=old_app.id)
    await application(await candidate("新人甲"), r1, now - 10 * D)
    await application(await candidate("新人乙"), r2, now - 5 * D)


EXPECTED = {
    "days": 30,
    "offers_sent": 10,
    "accepted": 2,  # o1 + o9 (onboarded)
    "declined": 3,  # o2, o6, o10
    "expired": 1,  # o7
    "reneged": 2,  # o3, o8
    "withdrawn": 1,  # o5
    "decline_rate": 0.3333,  # 3 / (10 - 1)
    "renege_rate": 0.2222,  # 2 / 9
    "dropoff_rate": 0.6667,  # (3 + 1 + 2) / 9
    "by_reason": {"salary": 2, "info_mismatch": 2, "competing_offer": 1},
    "reapply_rate_90d": 0.25,
}


def bucket(sent, accepted=0, declined=0, expired=0, reneged=0, withdrawn=0):
    base = sent - withdrawn
    return {
        "offers_sent": sent,
        "accepted": accepted,
        "declined": declined,
        "expired": expired,
        "reneged": reneged,
        "withdrawn": withdrawn,
        "decline_rate": round(declined / base, 4),
        "renege_rate": round(reneged / base, 4),
        "dropoff_rate": round((declined + expired + reneged) / base, 4),
    }


async def test_stats_on_a_seeded_data_set(rt):
    now = rt.clock()
    await seed(now)
    stats = await compute_stats(30, now=now)
    assert {k: stats[k] for k in EXPECTED} == EXPECTED
    assert stats["by_feedback_latency"] == {
        "le_1d": bucket(3, accepted=2, declined=1),  # o1, o6, o9
        "d1_2": bucket(2, declined=1, reneged=1),  # o2, o8
        "gt_2d": bucket(3, declined=1, expired=1, reneged=1),  # o3, o7, o10
    }
    by_req = {r["external_id"]: r for r in stats["by_requisition"]}
    assert [r["external_id"] for r in stats["by_requisition"]] == ["R1", "R2", "R3"]
    assert {k: by_req["R1"][k] for k in bucket(5)} == bucket(
        5, accepted=1, declined=1, reneged=1, withdrawn=1
    )
    assert {k: by_req["R2"][k] for k in bucket(4)} == bucket(
        4, accepted=1, declined=1, expired=1, reneged=1
    )
    assert {k: by_req["R3"][k] for k in bucket(1)} == bucket(1, declined=1)
    # R2 lost 3 offers, 2 of them to info_mismatch: review its job description.
    assert [r["review_job_description"] for r in stats["by_requisition"]] == [False, True, False]
    assert by_req["R2"]["title"] == "销售经理"


async def test_stats_command_and_api_tell_the_same_numbers(rt, client, settings):
    now = rt.clock()
    await seed(now)
    answer = await ask(rt, "/stats 30", group="hrchat")
    text = answer["text"]
    assert "发出 10 · 接受 2 · 婉拒 3 · 过期 1 · 反悔 2 · 撤回 1" in text
    assert "婉拒率 33% · 反悔率 22% · 流失率 67%" in text
    r2_line = next(line for line in text.splitlines() if "销售经理" in line)
    assert "流失率 75%" in r2_line and rt.catalog.t("stats.review_jd") in r2_line
    assert "薪资 2" in text and "≤1 天 33%（3 个）" in text and "复投率 25%" in text
    chart = settings.data_dir / "charts" / answer["image_key"]
    with Image.open(chart) as image:
        assert image.format == "PNG" and image.size == (1100, 750)

    resp = await client.get("/api/v1/stats?days=30", headers=auth())
    assert resp.status == 200
    body = await resp.json()
    assert {k: body[k] for k in EXPECTED} == EXPECTED


async def test_an_empty_window(rt, settings):
    stats = await compute_stats(7)
    assert stats["offers_sent"] == 0 and stats["dropoff_rate"] == 0.0
    assert stats["by_requisition"] == [] and stats["by_reason"] == {}
    assert stats["reapply_rate_90d"] == 0.0
    path = render_chart(stats, settings.data_dir / "empty.png", chart_labels(Catalog("en")))
    assert path.read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize("language", ["zh", "en"])
async def test_a_panel_without_data_says_so_instead_of_an_empty_axis(rt, language):
    """Offers out, none lost yet: the losses panel drew bars of zero on a −0.045…0.045
    axis. Every panel now draws data on axes that start at 0, or says there is none."""
    from bot.analytics import chart_figure

    now = rt.clock()
    app = await application(await candidate("甲"), await requisition("QA"), now - timedelta(days=3))
    await offer(app, "sent", sent_at=now - timedelta(days=1))
    stats = await compute_stats(30, now=rt.clock())
    assert stats["offers_sent"] == 1 and stats["by_requisition"]
    labels = chart_labels(Catalog(language))
    fig = chart_figure(stats, labels)
    for ax in fig.axes:
        says_none = any(t.get_text() == labels["no_data"] for t in ax.texts)
        if not says_none:  # a drawn panel: no axis squeezed round zero (−0.045…0.045)
            for low, high in (ax.get_xlim(), ax.get_ylim()):
                assert high - low > 0.5, (ax.get_title(), low, high)
    (losses,) = [ax for ax in fig.axes if ax.get_title() == labels["by_requisition"]]
    assert [t.get_text() for t in losses.texts] == [labels["no_data"]]


def test_the_reapply_rate_says_what_it_counts():
    for language in ("zh", "en"):
        text = Catalog(language).t("stats.reapply", rate="25%")
        assert "90" in text and "25%" in text
    assert "占申请比例" not in Catalog("zh").t("stats.reapply", rate="25%")


@pytest.mark.parametrize("days", [0, -1, True, 1.5, "30"])
async def test_days_must_be_a_positive_whole_number(rt, days):
    with pytest.raises(ValueError):
        await compute_stats(days)


def test_latency_bucket_edges():
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    assert latency_bucket(t0, t0) == "le_1d"
    assert latency_bucket(t0, t0 + D) == "le_1d"
    assert latency_bucket(t0, t0 + D + timedelta(seconds=1)) == "d1_2"
    assert latency_bucket(t0, t0 + 2 * D) == "d1_2"
    assert latency_bucket(t0, t0 + 2 * D + timedelta(seconds=1)) == "gt_2d"
