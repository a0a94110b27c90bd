"""HR without an ATS (docs/hr-commands.md): /job, /offer, /offers, /withdraw typed in the
HR chat of the playground (web) and answered by the worker through the outbox."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.storage.models import Application, Candidate, KeyValue, Offer, Requisition
from tests.hr_data import ask, requisition
from tests.offer_steps import candidate_texts, said, send


def t(rt, key: str, **values) -> str:
    return rt.catalog.t(key, **values)


async def test_one_line_offer_summary_confirm_and_the_candidate_gets_it(rt):
    await requisition("前端工程师", location="上海", remote_days_per_week=2)
    summary = await ask(rt, "/offer 张三 13800138000 前端工程师 25k 2027-01-04")
    assert summary["kind"] == "card"
    assert "25,000" in summary["text"] and "2027-01-04" in summary["text"]
    assert "138****8000" in summary["text"] and "13800138000" not in summary["text"]
    assert [a["key"] for a in summary["actions"]] == ["offer_confirm", "offer_edit", "offer_cancel"]
    assert not await Offer.exists()  # nothing is sent before 确认

    done = await ask(rt, "确认")
    offer = await Offer.get()
    assert done["text"].startswith(f"✅ Offer #{offer.id}")
    assert offer.status == "sent" and str(offer.salary_monthly) in ("25000", "25000.00")
    assert offer.start_date.isoformat() == "2027-01-04"
    who = await Candidate.get()
    assert (who.name, who.phone_norm) == ("张三", "13800138000")
    # No platform identity: the candidate is invited, and the invite brings the offer.
    assert offer.invite_code and offer.invite_code in done["text"]
    assert not await KeyValue.filter(key__startswith="offer_draft:").exists()
    await send(rt, said(offer.invite_code, user="cand-zs"))
    texts = await candidate_texts("cand-zs")
    assert any("25,000" in text for text in texts), texts
