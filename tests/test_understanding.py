"""The learned reply reader (bot/understanding): training, files, the gate, `classify`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.services.retrain import SHOWN
from bot.understanding.corpus import Example, load_file, load_split
from bot.understanding.model import IntentModel, name_of_file, shipped_model
from bot.understanding.served import served_model_name
from bot.understanding.training import (
    _choose_threshold,
    evaluate,
    served_model,
    train,
    train_and_gate,
)
from bot.vocab import CONCERNS, INTENTS

ROOT = Path(__file__).parent.parent
SETS = Path(__file__).parent / "intent_sets"
PROBES = [
    "好的，我接受这个offer",
    "不好意思，我决定留在现在的公司了",
    "薪资能不能再谈一下？",
    "加班多吗",
    "在吗",
    "本来还担心通勤，看好房子了，就这么定了",
    "I accept, see you on Monday!",
]


def _small() -> tuple[list[Example], list[Example], list[Example]]:
    """A small corpus from tests/intent_sets: quick to train on, big enough to learn."""
    labelled = load_file(SETS / "intents_labelled.jsonl", "labelled")
    holdout = load_file(SETS / "intents_holdout.jsonl", "holdout")
    return labelled[::3], holdout[::2], holdout[1::2]


@pytest.fixture(scope="module")
def small():
    return _small()


@pytest.fixture(scope="module")
def model(small) -> IntentModel:
    train_set, dev, _ = small
    return train(train_set, dev)


def _corpus_dir(tmp: Path, small) -> Path:
    """The small corpus written the way the shipped one is laid out (sources + splits)."""
    (tmp / "sources").mkdir(parents=True)
    for name, rows in zip(("train_a", "dev_a", "test_a"), small, strict=True):
        with open(tmp / "sources" / f"{name}.jsonl", "w", encoding="utf-8") as f:
            for e in rows:
                row = {"text": e.text, "intent": e.intent, "concerns": list(e.concerns)}
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
    splits = {"train": ["train_a"], "dev": ["dev_a"], "test": ["test_a"]}
    (tmp / "splits.json").write_text(json.dumps(splits))
    return tmp


def test_training_is_deterministic(small, model) -> None:
    again = train(small[0], small[1])
    assert again.name == model.name
    assert [again.read(t) for t in PROBES] == [model.read(t) for t in PROBES]


def test_reading_shape(model) -> None:
    r = model.read("好的，我接受这个offer", explain=True)
    assert r.intent == "accept" and r.model == model.name and r.explain
    assert 0.0 < r.confidence <= 1.0 and r.sure in (True, False)
    assert all(c in CONCERNS for c in model.read("加班多吗？工资多少").concerns)
    # the certain cases are the rules', always sure
    for text, intent in (("1", "accept"), ("２", "decline"), ("选3", "question"), ("", "other")):
        got = model.read(text, explain=True)
        assert (got.intent, got.sure, got.model, got.confidence) == (intent, True, "rules", 1.0)
        assert got.explain[0].startswith("rule: ")
    assert model.read("婉拒").model == "rules"  # the decline button's own label


def test_save_load_round_trip(tmp_path: Path, model) -> None:
    path = model.save(tmp_path / "m.npz")
    back = IntentModel.load(path)
    assert back.name == model.name
    assert (back.threshold, back.mix) == (model.threshold, model.mix)
    assert [back.read(t) for t in PROBES] == [model.read(t) for t in PROBES]


def test_load_refuses_other_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a model")
    with pytest.raises(ValueError):
        IntentModel.load(bad)


def test_sure_follows_the_threshold(model) -> None:
    text = "好的，我接受这个offer"
    assert model.retuned(threshold=0.0, mix=1.0, margin=0.0).read(text).sure
    unsure = model.retuned(threshold=1.01).read(text)
    assert unsure.intent == "accept" and not unsure.sure
    assert model.retuned(threshold=1.01).read("加班多吗").sure  # not a decision
    # a lead over hesitate the reading cannot have: unsure, whatever the threshold
    no_lead = model.retuned(threshold=0.0, mix=1.0, margin=1.01).read(text)
    assert no_lead.intent == "accept" and not no_lead.sure


def test_margin_is_kept_in_the_file(tmp_path: Path, model) -> None:
    m = model.retuned(threshold=0.0, mix=1.0, margin=0.42)
    assert m.name != model.retuned(threshold=0.0, mix=1.0, margin=0.0).name
    back = IntentModel.load(m.save(tmp_path / "m.npz"))
    assert (back.margin, back.name) == (0.42, m.name)
    # without a margin the file has the three knobs older files have
    plain = IntentModel.load(model.retuned(margin=0.0).save(tmp_path / "p.npz"))
    assert plain.margin == 0.0 and len(plain._arrays()["knobs"]) == 3


def test_threshold_choice_uses_the_margin_when_it_asks_less() -> None:
    # wrong decisions are more confident than right ones but much closer to hesitate,
    # under every hesitate cap: only a margin over hesitate keeps them unsure cheaply
    right = [("accept", 0.6, 0.02, "accept")] * 100
    wrong = [("accept", 0.7, 0.22, "hesitate")] * 10
    threshold, mix, margin = _choose_threshold(right + wrong)
    assert mix == 1.0 and 0.48 < margin <= 0.58
    # when a threshold alone does it, no margin is used
    wrong = [("accept", 0.5, 0.2, "hesitate")] * 10
    threshold, mix, margin = _choose_threshold(right + wrong)
    assert margin == 0.0 and 0.5 < threshold <= 0.6


def test_served_model_picks_the_newest_kept_file(tmp_path: Path, model) -> None:
    assert served_model(None) is shipped_model()
    assert served_model(tmp_path) is shipped_model()  # no models/ yet
    older, newer = model.retuned(threshold=0.61), model.retuned(threshold=0.62)
    older.save(tmp_path / "models" / f"intents-0009-{older.name[8:]}.npz")
    newer.save(tmp_path / "models" / f"intents-0010-{newer.name[8:]}.npz")
    (tmp_path / "models" / "notes.txt").write_text("not a model")
    assert served_model(tmp_path).name == newer.name
    # an unreadable newest file is skipped, not served
    (tmp_path / "models" / "intents-0011-0000000000.npz").write_bytes(b"torn")
    assert served_model(tmp_path).name == newer.name
    # and naming it without loading it says the same, skipping the same files
    assert served_model_name(tmp_path) == newer.name
    assert served_model_name(None) == shipped_model().name
    assert name_of_file(tmp_path / "models" / f"intents-0009-{older.name[8:]}.npz") == older.name


def test_naming_the_served_model_loads_neither_it_nor_scikit_learn(tmp_path: Path) -> None:
    # What `/readyz` does in serve's HTTP process, which never reads a reply: a second of
    # CPU on the event loop and 100 MB of memory when it loaded the model to name it.
    probe = (
        "import sys; from bot.understanding.providers import LocalProvider; "
        f"p = LocalProvider({str(tmp_path)!r}); name = p.model_name; "
        "print(name, p._model is None, 'sklearn' in sys.modules, 'scipy' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=True
    ).stdout.split()
    assert out == [shipped_model().name, "True", "False", "False"]


def test_gate_keeps_an_equal_model_and_refuses_a_worse_one(tmp_path: Path, small) -> None:
    corpus = _corpus_dir(tmp_path / "corpus", small)
    data = tmp_path / "data"
    train_set, dev, test = small
    assert load_split("test", corpus) == [
        Example(e.text, e.intent, e.concerns, "test_a") for e in test
    ]
    serving = train(load_split("train", corpus), load_split("dev", corpus))
    serving.save(data / "models" / f"intents-0001-{serving.name[8:]}.npz")

    same = train_and_gate([], data, corpus_dir=corpus)  # retrained: equal, so kept
    assert same.kept and same.path is not None and same.path.name.startswith("intents-0002-")
    assert same.new["macro_f1"] == same.current["macro_f1"]
    assert served_model(data).name == serving.name

    flip = {
        "accept": "decline",
        "decline": "accept",
        "hesitate": "other",
        "other": "accept",
        "question": "decline",
    }
    wrong = [Example(e.text, flip[e.intent], (), "hr") for e in train_set + dev] * 3
    worse = train_and_gate(wrong, data, corpus_dir=corpus)
    assert not worse.kept and worse.path is None
    assert worse.new["macro_f1"] < worse.current["macro_f1"]
    assert sorted(p.name[:12] for p in (data / "models").iterdir()) == [
        "intents-0001",
        "intents-0002",
    ]
    assert served_model(data).name == serving.name


def test_scores_shape(small, model) -> None:
    s = evaluate(model, small[2])
    assert s.n == len(small[2])
    assert set(s.per_intent) == set(INTENTS)
    for key in SHOWN:  # the figures `offerbot train-intents` prints: rates, but the count
        if key != "n":
            assert 0.0 <= s[key] <= 1.0, key


def test_shipped_model_file_is_small_and_loads() -> None:
    from bot.understanding.model import SHIPPED_PATH

    assert SHIPPED_PATH.stat().st_size < 8_000_000  # 7.5 MB with the w15-w19 waves (190k features)
    assert shipped_model() is shipped_model()  # loaded once
    assert shipped_model().read("好的，我接受").intent == "accept"


def _classify(tmp: Path, args: list[str], stdin: str = "") -> list[dict]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OFFERBOT_")}
    env["PYTHONPATH"] = str(ROOT)
    out = subprocess.run(
        [sys.executable, "-m", "bot.cli", "classify", "--config", str(tmp / "config.toml"), *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=tmp,
        env=env,
        timeout=60,
        check=True,
    )
    return [json.loads(line) for line in out.stdout.splitlines()]


def test_classify_output_shape(tmp_path: Path, model) -> None:
    data = tmp_path / "data"
    (tmp_path / "config.toml").write_text(f'[storage]\ndata_dir = "{data}"\n')
    rows = _classify(tmp_path, ["好的，我接受这个offer", "2"])
    assert [set(r) for r in rows] == [{"text", "intent", "concerns", "sure", "model"}] * 2
    assert rows[0]["model"] == shipped_model().name and isinstance(rows[0]["sure"], bool)
    assert rows[1] == {
        "text": "2",
        "intent": "decline",
        "concerns": [],
        "sure": True,
        "model": "rules",
    }

    # a kept model under the data dir is the one served and named
    model.save(data / "models" / f"intents-0001-{model.name[8:]}.npz")
    rows = _classify(tmp_path, ["--explain"], stdin="加班多吗\n\n1\n")
    assert [r["text"] for r in rows] == ["加班多吗", "1"]
    assert rows[0]["model"] == model.name and rows[0]["explain"]
    assert all(isinstance(x, str) for x in rows[0]["explain"])
    assert rows[1]["explain"] == ["rule: menu digit 1"]
