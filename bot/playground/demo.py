""" "Start a demo": the data an ATS would push, pushed through the ATS code paths.

Every record goes through `bot.usecases.ats` exactly as `POST /api/v1/...` would send it
(same request models, same upserts), so the demo shows what the product really does:
- a requisition;
- a candidate with two interview rounds and an offer (whose expectations clash with the
  requisition on remote days: HR sees the pre-offer advisory);
- a re-applicant: an application months ago, interviews, an offer they declined with a
  reason, then a new application today → the re-applicant alert in the HR group.

The only step no ATS takes: both candidates get a playground identity (`web_id`), the
way a WeCom or Feishu user id would be bound, so the page can chat as them.
Each run uses fresh ids, so runs never mix; names carry the run number from the second on.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from bot.api_schemas import (
    ApplicationIn,
    CandidateIn,
    InterviewIn,
    OfferHistoryIn,
    OfferIn,
    RequisitionIn,
    validation_context,
)
from bot.runtime import Runtime
from bot.services.fx import Fx
from bot.storage.models import Candidate, KeyValue
from bot.usecases import ats

RUNS_KEY = "playground:demo_runs"
REQUISITION_ID = "playground-frontend"


async def start_demo(rt: Runtime) -> dict[str, Any]:
    """Create one demo run; returns who the page can chat as."""
    fx = rt.fx(actor="playground")
    return await ats.committed(fx, _create_run, secrets.token_hex(3))


def _validated(model, fx: Fx, **fields: Any):
    return model.model_validate(fields, context=validation_context(fx.settings))


async def _next_run() -> int:
    row, _ = await KeyValue.get_or_create(key=RUNS_KEY, defaults={"value": {"runs": 0}})
    runs = int(row.value.get("runs", 0)) + 1
    row.value = {"runs": runs}
    await row.save()
    return runs


async def _create_run(fx: Fx, run_id: str) -> dict[str, Any]:
    words = DemoWords(fx, await _next_run())
    now = fx.now()
    await ats.upsert_requisition(
        fx,
        _validated(
            RequisitionIn,
            fx,
            external_id=REQUISITION_ID,
            title=words["requisition_title"],
            department=words["department"],
            headcount=2,
            urgency="high",
            status="open",
            remote_days_per_week=1,
            overtime="occasional",
            location=words["location"],
            documents=["id_card_front", "diploma", "bank_card", "photo"],
            onboarding_guide=words["onboarding_guide"],
        ),
    )
    candidate = await _candidate(fx, run_id, "a", words.name("candidate_name"), "138")
    reapplicant = await _candidate(fx, run_id, "b", words.name("reapplicant_name"), "139")
    await _reapplicant_history(fx, run_id, words, now)
    offer, extra = await _offer_with_interviews(fx, run_id, words, now)
    # Last: the new application that makes the re-applicant alert.
    await ats.upsert_application(
        fx,
        _validated(
            ApplicationIn,
            fx,
            external_id=f"playground-{run_id}-b2",
            candidate_external_id=reapplicant.external_id,
            requisition_external_id=REQUISITION_ID,
            applied_at=now,
            source=words["referral"],
        ),
    )
    return {
        "run": words.run,
        "candidate": _who(candidate),
        "reapplicant": _who(reapplicant),
        "offer_id": offer.id,
        **extra,
    }


class DemoWords:
    """The demo's names and notes in the company language ([playground.demo])."""

    def __init__(self, fx: Fx, run: int):
        self.fx, self.run = fx, run

    def __getitem__(self, key: str) -> str:
        return self.fx.t(f"playground.demo.{key}")

    def name(self, key: str) -> str:
        if self.run == 1:
            return self[key]
        return self.fx.t("playground.demo.numbered_name", name=self[key], n=self.run)


def _who(candidate: Candidate) -> dict[str, Any]:
    return {"id": candidate.id, "name": candidate.name, "user": candidate.web_id}


async def _candidate(fx: Fx, run_id: str, letter: str, name: str, prefix: str) -> Candidate:
    # Random numbers per run: an earlier run's declined offer must not make this run's
    # candidate a re-applicant by phone.
    phone = f"{prefix}{secrets.randbelow(10**8):08d}"
    expectations = None
    if letter == "a":
        expectations = {
            "salary_min": 28000,
            "remote_days_per_week": 2,
            "location": fx.t("playground.demo.location"),
            "notes": fx.t("playground.demo.expectation_notes"),
        }
    candidate, _ = await ats.upsert_candidate(
        fx,
        _validated(
            CandidateIn,
            fx,
            external_id=f"playground-{run_id}-{letter}",
            name=name,
            phone=phone,
            email=f"demo-{run_id}-{letter}@example.com",
            expectations=expectations,
        ),
    )
    # The playground identity, as a platform binding would set wecom_user_id.
    candidate.web_id = f"demo-{run_id}-{letter}"
    await candidate.save(update_fields=["web_id", "updated_at"])
    return candidate


async def _interview(
    fx: Fx, application: str, round_: int, who: str, score: int, notes: str, held, feedback
):
    await ats.upsert_interview(
        fx,
        _validated(
            InterviewIn,
            fx,
            application_external_id=application,
            round=round_,
            interviewer=who,
            score=score,
            notes=notes,
            held_at=held,
            feedback_sent_at=feedback,
        ),
    )


async def _application(fx: Fx, run_id: str, who: str, words: DemoWords, applied: datetime):
    """Candidate `who`'s (a / b) application to the demo job; its external id."""
    application = f"playground-{run_id}-{who}1"
    await ats.upsert_application(
        fx,
        _validated(
            ApplicationIn,
            fx,
            external_id=application,
            candidate_external_id=f"playground-{run_id}-{who}",
            requisition_external_id=REQUISITION_ID,
            applied_at=applied,
            source=words["source"],
        ),
    )
    return application


async def _offer_with_interviews(fx: Fx, run_id: str, words: DemoWords, now: datetime):
    application = await _application(fx, run_id, "a", words, now - timedelta(days=20))
    first, second = now - timedelta(days=12), now - timedelta(days=5)
    lead, director = words["interviewer_lead"], words["interviewer_director"]
    await _interview(
        fx, application, 1, lead, 4, words["notes_round1"], first, first + timedelta(days=1)
    )
    await _interview(
        fx, application, 2, director, 5, words["notes_round2"], second, second + timedelta(hours=4)
    )
    start = (now.astimezone(fx.settings.company.tz) + timedelta(days=14)).date()
    return await ats.create_offer(
        fx,
        _validated(
            OfferIn,
            fx,
            application_external_id=application,
            salary_monthly=30000,
            start_date=start,
            channel="web",
        ),
    )


async def _reapplicant_history(fx: Fx, run_id: str, words: DemoWords, now: datetime) -> None:
    """Eight months ago: applied, two rounds, an offer declined for a better one."""
    applied = now - timedelta(days=250)
    application = await _application(fx, run_id, "b", words, applied)
    first, second = applied + timedelta(days=6), applied + timedelta(days=11)
    lead, director = words["interviewer_lead"], words["interviewer_director"]
    await _interview(
        fx, application, 1, lead, 4, words["old_notes_round1"], first, first + timedelta(days=2)
    )
    await _interview(
        fx,
        application,
        2,
        director,
        3,
        words["old_notes_round2"],
        second,
        second + timedelta(days=3),
    )
    sent = applied + timedelta(days=15)
    await ats.import_offer(
        fx,
        _validated(
            OfferHistoryIn,
            fx,
            application_external_id=application,
            salary_monthly=26000,
            start_date=(sent + timedelta(days=30)).date(),
            channel="web",
            status="declined",
            sent_at=sent,
            declined_at=sent + timedelta(days=3),
            reason_category="salary",
            reason_text=words["old_decline_reason"],
        ),
    )
