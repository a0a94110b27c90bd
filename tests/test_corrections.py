"""HR corrects the bot (/correct and the 误判 button): a real reply raises the alert, HR's
label is stored as a `Correction`, bad labels are refused politely, and erasing the
candidate removes the corrections."""

from __future__ import annotations

import pytest

from bot.services.erase import erase_candidate
from bot.storage.models import Alert, Candidate, Correction, Offer, TimelineEvent
from tests.helpers import drain
from tests.hr_data import ask
from tests.offer_steps import api, clicked, hire, said, send

HESITANT = "我再考虑一下，薪资能否再谈"


async def hesitant_alert(rt, text: str = HESITANT) -> Alert:
    async with api(rt) as client:
        await hire(client)
    await drain(rt)
    await send(rt, said(text))
    return await Alert.get(kind="hesitate")


async def test_correct_stores_hrs_label_next_to_the_bots_reading(rt):
    alert = await hesitant_alert(rt)
    answer = await ask(rt, f"/correct {alert.id} question salary overtime")
    assert answer["text"].startswith("✅")
    assert HESITANT in answer["text"]
    [row] = await Correction.all()
    assert (row.text, row.bot_intent, row.bot_concerns) == (HESITANT, "hesitate", ["salary"])
    assert (row.hr_intent, row.hr_concerns) == ("question", ["salary", "overtime"])
    assert (row.by, row.alert_id, row.candidate_id) == ("web:hr1", alert.id, alert.candidate_id)
    assert row.model  # which classifier read it
    assert await TimelineEvent.filter(kind="intent_corrected").exists()
    offer = await Offer.get(id=alert.offer_id)
    assert offer.stage == "hesitating"  # a label, not an action on the offer


async def test_labels_may_be_typed_as_the_bot_shows_them_and_a_second_correction_replaces(rt):
    alert = await hesitant_alert(rt)
    await ask(rt, f"/correct #{alert.id} 接受")
    await ask(rt, f"/correct {alert.id} 犹豫 薪资，加班")
    [row] = await Correction.all()
    assert (row.hr_intent, row.hr_concerns) == ("hesitate", ["salary", "overtime"])


async def test_the_wrong_label_button_answers_with_the_command_prefilled(rt):
    alert = await hesitant_alert(rt)
    answer = await ask(rt, kind="action", action={"action": "correct", "alert_id": alert.id})
    assert f"/correct {alert.id} <" in answer["text"]
    assert HESITANT in answer["text"]
    assert "accept" in answer["text"] and "competing_offer" in answer["text"]
    assert not await Correction.exists()  # HR still has to choose the label


@pytest.mark.parametrize(
    ("args", "key"),
    [
        ("{id} maybe", "commands.correct.bad_intent"),
        ("{id} accept salary commute", "commands.correct.bad_concern"),
    ],
)
async def test_unknown_labels_are_refused_with_what_is_allowed(rt, args, key):
    alert = await hesitant_alert(rt)
    answer = await ask(rt, "/correct " + args.format(id=alert.id))
    head = rt.catalog.t(key, word="§", intents="", concerns="").split("§")[0]
    assert answer["text"].startswith(head)
    assert not await Correction.exists()


@pytest.mark.parametrize(
    "args", ["", "abc accept", "12 " + " ".join(["salary"] * 20), "1' OR 1=1 -- accept"]
)
async def test_malformed_arguments_show_the_usage(rt, args):
    answer = await ask(rt, f"/correct {args}")
    assert "/correct <" in answer["text"]
    assert not await Correction.exists()


async def test_alerts_not_born_from_words_cannot_be_corrected(rt):
    async with api(rt) as client:
        await hire(client)
    await drain(rt)
    await send(rt, clicked("question"))  # a button: nothing was read from words
    alert = await Alert.get(kind="question")
    answer = await ask(rt, f"/correct {alert.id} hesitate")
    assert answer["text"] == rt.catalog.t("commands.correct.not_a_reply", id=alert.id)
    missing = await ask(rt, "/correct 999999 hesitate")
    assert missing["text"] == rt.catalog.t("commands.alert_not_found", id=999999)
    assert not await Correction.exists()


async def test_non_admins_cannot_correct(rt):
    alert = await hesitant_alert(rt)
    answer = await ask(rt, f"/correct {alert.id} accept", sender="intruder")
    assert answer["text"] == rt.catalog.t("commands.not_admin")
    assert not await Correction.exists()


async def test_help_lists_correct(rt):
    assert "/correct" in (await ask(rt, "/help"))["text"]


async def test_erasing_the_candidate_removes_their_corrections(rt):
    alert = await hesitant_alert(rt)
    await ask(rt, f"/correct {alert.id} question")
    candidate = await Candidate.get(id=alert.candidate_id)
    counts = await erase_candidate(rt.fx(actor="web:hr1"), candidate)
    assert counts["corrections"] == 1
    assert not await Correction.exists()
    answer = await ask(rt, f"/correct {alert.id} accept")  # the alert's words are gone too
    assert answer["text"] == rt.catalog.t("commands.correct.not_a_reply", id=alert.id)
