"""HR corrects the bot (/correct and the 误判 button): a real reply raises the alert, HR's
label is stored as a `Correction`, bad labels are refused politely, and erasing the
candidate removes the corrections."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.cli import build_parser, cmd_train_intents
from bot.services.erase import erase_candidate
from bot.services.retrain import correction_examples, report, train_with_corrections
from bot.storage.models import Alert, Candidate, Correction, Offer, TimelineEvent
from bot.understanding.corpus import load_split
from bot.understanding.model import SHIPPED_PATH, IntentModel
from bot.understanding.training import served_model, train
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
    await send(rt, clicked("decline"))  # a button: nothing was read from words
    alert = await Alert.get(kind="decline")
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


# -- offerbot train-intents ------------------------------------------------------------------

LABELLED = Path(__file__).parent / "intent_sets"


def small_corpus(root: Path) -> Path:
    """A corpus laid out like the shipped one, from the test sets (train, dev and test by
    source), small enough to train in seconds."""
    lines = (LABELLED / "intents_labelled.jsonl").read_text(encoding="utf-8").splitlines()
    holdout = (LABELLED / "intents_holdout.jsonl").read_text(encoding="utf-8")
    (root / "sources").mkdir(parents=True)
    table: dict[str, list[str]] = {"train": [], "dev": [], "test": ["holdout"]}
    for n, start in enumerate(range(0, 260, 26)):
        name = f"part{n:02d}"
        chunk = "\n".join(lines[start : start + 26]) + "\n"
        (root / "sources" / f"{name}.jsonl").write_text(chunk, encoding="utf-8")
        table["dev" if n % 5 == 4 else "train"].append(name)
    (root / "sources" / "holdout.jsonl").write_text(holdout, encoding="utf-8")
    (root / "splits.json").write_text(json.dumps(table), encoding="utf-8")
    return root


async def test_a_correction_changes_what_train_intents_produces(rt, tmp_path):
    corpus = small_corpus(tmp_path / "corpus")
    data_dir = rt.settings.data_dir
    baseline = train(load_split("train", corpus), load_split("dev", corpus))
    baseline.save(data_dir / "models" / "intents-0001-ba5e11.npz")
    assert served_model(data_dir).name == baseline.name
    assert await correction_examples() == []

    alert = await hesitant_alert(rt)
    await ask(rt, f"/correct {alert.id} hesitate salary timing")
    [example] = await correction_examples()
    assert (example.text, example.intent, example.concerns) == (
        HESITANT,
        "hesitate",
        ("salary", "timing"),
    )

    outcome = await train_with_corrections(data_dir, corpus)
    assert outcome.extra == 1
    gate = outcome.gate
    assert gate.kept, (gate.new, gate.current)
    assert gate.path is not None and gate.path.name.startswith("intents-0002-")
    served = served_model(data_dir)
    assert served.name != baseline.name  # the model trained with HR's label is served now
    assert set(served.read(HESITANT).concerns) >= {"salary"}
    lines = report(outcome)
    assert lines[0] == "corrections: 1 extra examples"
    assert lines[-1].startswith("kept: yes")
    assert json.loads(lines[1].split(": ", 1)[1])["n"] == gate.new["n"]


async def test_the_gate_refuses_a_worse_model(rt, tmp_path):
    corpus = small_corpus(tmp_path / "corpus")
    data_dir = rt.settings.data_dir
    before = served_model(data_dir).name
    # HR "corrects" the whole training split to the wrong intents.
    who = await Candidate.create(name="王五")
    wrong = {"accept": "decline", "decline": "accept", "hesitate": "other", "question": "accept"}
    for e in load_split("train", corpus):
        await Correction.create(
            candidate=who,
            text=e.text,
            bot_intent=e.intent,
            hr_intent=wrong.get(e.intent, "hesitate"),
            by="web:hr1",
        )
    outcome = await train_with_corrections(data_dir, corpus)
    assert outcome.extra == len(load_split("train", corpus))
    assert not outcome.gate.kept and outcome.gate.path is None
    assert outcome.gate.new["macro_f1"] < outcome.gate.current["macro_f1"]
    assert served_model(data_dir).name == before
    assert not (data_dir / "models").exists() or not list((data_dir / "models").iterdir())
    assert report(outcome)[-1].startswith("kept: no")


async def test_readyz_names_the_served_model(make_runtime, settings, data_dir):
    kept = IntentModel.load(SHIPPED_PATH)
    kept.threshold = 0.9  # another model than the shipped one: another name
    kept.name = "intents-" + kept._digest()[:10]
    kept.save(data_dir / "models" / "intents-0001-0123ab.npz")
    rt = await make_runtime(settings)
    async with api(rt) as client:
        body = await (await client.get("/readyz")).json()
    assert body["intents"] == {"provider": "rules", "model": served_model(data_dir).name}
    assert body["intents"]["model"] != IntentModel.load(SHIPPED_PATH).name


def test_train_intents_is_a_command_of_the_cli():
    args = build_parser().parse_args(["train-intents", "--config", "x.toml"])
    assert (args.func, args.config) == (cmd_train_intents, "x.toml")
