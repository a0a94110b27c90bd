"""The learned reply reader: `IntentModel.read(text) -> Reading` (see docs/understanding.md).

A fitted model is a handful of arrays: the feature names and their idf, one linear layer
for the five intents (softmax, calibrated by a temperature fitted on held-out folds) and
one for the concerns (one logistic per concern, each calibrated by Platt scaling). Reading
a reply is a dictionary lookup per feature and one small matrix product: no scikit-learn
at serving time. The arrays are saved as one `.npz` file (no pickle), and the file shipped
inside the package (`intents_model.npz`) is loaded once by `shipped_model()`.

`sure` says whether the bot would act without asking (the confirmation flow asks
otherwise): a decision (accept / decline) is sure only if its calibrated confidence is at
least `threshold` and the probability of `hesitate` stays below `mix` (a reply mixing a
decision with a doubt), and its lead over `hesitate` is at least `margin` (0 in older
files). They are chosen at training on replies no model had seen. Every other intent
is sure (the bot does not move the offer on it). Menu digits, the buttons' own labels and
empty text are read by the rules and always sure (`model == "rules"`).
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bot.understanding import features, rules
from bot.vocab import CONCERNS, INTENTS

SHIPPED_PATH = Path(__file__).resolve().parent / "intents_model.npz"
DECISIONS = ("accept", "decline")
FORMAT = 1  # bump when the arrays change meaning


@dataclass(frozen=True)
class Reading:
    """What the model read in one reply.

    intent: one of INTENTS; concerns: in CONCERNS order; confidence: the calibrated
    probability of `intent` (1.0 for a rule read); sure: the bot would act without
    asking; model: the name of the model that read it ("rules" for the certain cases);
    explain: why, strongest reasons first (top weighted features, or the rule).
    """

    intent: str
    concerns: tuple[str, ...]
    confidence: float
    sure: bool
    model: str
    explain: tuple[str, ...] = ()


class IntentModel:
    """A fitted linear reader. Build with `training.train`, or `IntentModel.load(path)`."""

    def __init__(
        self,
        names: list[str],
        idf: np.ndarray,
        w_intent: np.ndarray,
        b_intent: np.ndarray,
        temperature: float,
        w_concern: np.ndarray,
        b_concern: np.ndarray,
        platt: np.ndarray,
        threshold: float = 0.5,
        mix: float = 1.0,
        concern_threshold: float = 0.5,
        margin: float = 0.0,
    ) -> None:
        self.names = list(names)
        self.idf = np.asarray(idf, dtype=np.float32).astype(np.float64)  # as saved
        self.w_intent = np.asarray(w_intent, dtype=np.float32)  # (features, intents)
        self.b_intent = np.asarray(b_intent, dtype=np.float64)
        self.temperature = float(temperature)
        self.w_concern = np.asarray(w_concern, dtype=np.float32)  # (features, concerns)
        self.b_concern = np.asarray(b_concern, dtype=np.float64)
        self.platt = np.asarray(platt, dtype=np.float64)  # (concerns, 2): a, b
        self.threshold = float(threshold)
        self.mix = float(mix)
        self.concern_threshold = float(concern_threshold)
        self.margin = float(margin)
        # one matrix for both layers: one lookup per reply
        self._w = np.hstack([self.w_intent, self.w_concern]).astype(np.float64)
        self._b = np.concatenate([self.b_intent, self.b_concern])
        self._index = {n: i for i, n in enumerate(self.names)}
        self._idf = dict(zip(self.names, self.idf.tolist(), strict=True))
        self.name = "intents-" + self._digest()[:10]

    # -- reading -------------------------------------------------------------------------

    def probabilities(self, text: str) -> tuple[np.ndarray, np.ndarray, list[int], np.ndarray]:
        """(intent probabilities, concern probabilities, feature indices, their values)."""
        feats = features.featurize(text, self._idf)
        idx = [self._index[k] for k in feats]
        vals = np.fromiter(feats.values(), dtype=np.float64, count=len(feats))
        zz = vals @ self._w[idx] + self._b if idx else self._b.copy()
        k = len(INTENTS)
        z = zz[:k] / self.temperature
        p = np.exp(z - z.max())
        p /= p.sum()
        pc = 1.0 / (1.0 + np.exp(-(self.platt[:, 0] * zz[k:] + self.platt[:, 1])))
        return p, pc, idx, vals

    def read(self, text: str, explain: bool = False) -> Reading:
        """Read one reply. Pure and fast (a few hundred microseconds on one core)."""
        certain = rules.certain_rule(text)
        if certain is not None:
            read, rule = certain
            why = ("rule: " + rule,) if explain else ()
            return Reading(read.intent, read.concerns, 1.0, True, "rules", why)
        p, pc, idx, vals = self.probabilities(text)
        k = int(np.argmax(p))
        intent = INTENTS[k]
        cut = self.concern_threshold
        concerns = tuple(c for c, q in zip(CONCERNS, pc, strict=True) if q >= cut)
        sure = True
        if intent in DECISIONS:
            hes = p[INTENTS.index("hesitate")]
            sure = bool(p[k] >= self.threshold and hes < self.mix and p[k] - hes >= self.margin)
        why: tuple[str, ...] = ()
        if explain:
            why = self._explain(k, idx, vals)
        return Reading(intent, concerns, float(p[k]), sure, self.name, why)

    def _explain(self, k: int, idx: list[int], vals: np.ndarray, top: int = 6) -> tuple[str, ...]:
        if not idx:
            return ("bias only",)
        contrib = vals * self.w_intent[idx, k]
        order = np.argsort(-contrib, kind="stable")[:top]
        out = []
        for j in order:
            if contrib[j] <= 0:
                break
            out.append(f"{_describe(self.names[idx[j]])} {contrib[j]:+.2f}")
        return tuple(out)

    def retuned(
        self,
        threshold: float | None = None,
        mix: float | None = None,
        margin: float | None = None,
    ) -> IntentModel:
        """A copy with another decision threshold / hesitate cap / margin (another name)."""
        a = self._arrays()
        return IntentModel(
            self.names,
            self.idf,
            self.w_intent,
            self.b_intent,
            self.temperature,
            self.w_concern,
            self.b_concern,
            self.platt,
            threshold=self.threshold if threshold is None else threshold,
            mix=self.mix if mix is None else mix,
            concern_threshold=float(a["knobs"][2]),
            margin=self.margin if margin is None else margin,
        )

    # -- files ---------------------------------------------------------------------------

    def _arrays(self) -> dict[str, np.ndarray]:
        return {
            "format": np.array([FORMAT]),
            "names": np.array(self.names, dtype=np.str_),
            "idf": self.idf.astype(np.float32),
            "w_intent": self.w_intent,
            "b_intent": self.b_intent,
            "temperature": np.array([self.temperature]),
            "w_concern": self.w_concern,
            "b_concern": self.b_concern,
            "platt": self.platt,
            # the margin only when set, so that older files keep their names
            "knobs": np.array(
                [self.threshold, self.mix, self.concern_threshold]
                + ([self.margin] if self.margin else [])
            ),
            "intents": np.array(INTENTS, dtype=np.str_),
            "concerns": np.array(CONCERNS, dtype=np.str_),
        }

    def _digest(self) -> str:
        return _digest(self._arrays())

    def save(self, path: str | Path) -> Path:
        """Write the model as one compressed .npz (no pickle); returns the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **self._arrays())
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> IntentModel:
        """Read a file written by `save` (refuses other formats or another vocabulary)."""
        with np.load(Path(path), allow_pickle=False) as z:
            _check(path, z)
            knobs = z["knobs"].tolist()
            return cls(
                z["names"].tolist(),
                z["idf"].astype(np.float64),
                z["w_intent"],
                z["b_intent"],
                float(z["temperature"][0]),
                z["w_concern"],
                z["b_concern"],
                z["platt"],
                threshold=knobs[0],
                mix=knobs[1],
                concern_threshold=knobs[2],
                margin=knobs[3] if len(knobs) > 3 else 0.0,
            )


def name_of_file(path: str | Path) -> str:
    """The name `load(path).name` would have, read off the file's arrays without building
    the model (no feature table, a tenth of the time and memory): for `/readyz` in a
    process that never reads a reply. Raises as `load` does on a file it would refuse."""
    with np.load(Path(path), allow_pickle=False) as z:
        _check(path, z)
        return "intents-" + _digest({key: z[key] for key in z.files})[:10]


def _check(path: str | Path, z) -> None:
    if int(z["format"][0]) != FORMAT:
        raise ValueError(f"{path}: model format {int(z['format'][0])}, expected {FORMAT}")
    if tuple(z["intents"].tolist()) != INTENTS or tuple(z["concerns"].tolist()) != CONCERNS:
        raise ValueError(f"{path}: the model's intents or concerns differ from bot.vocab")


def _digest(arrays: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for key, arr in sorted(arrays.items()):
        h.update(key.encode())
        h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()


def _describe(name: str) -> str:
    """'c:定了' -> 'chars "定了"', 'w:接受' -> 'word "接受"', 'r:hedge' -> 'cue hedge'."""
    kind, _, value = name.partition(":")
    label = {"c": "chars", "w": "word", "r": "cue"}.get(kind, kind)
    return f"{label} {value}" if kind == "r" else f'{label} "{value}"'


_shipped: IntentModel | None = None
_shipped_lock = threading.Lock()


def shipped_model() -> IntentModel:
    """The model file shipped inside the package, loaded once and cached."""
    global _shipped
    if _shipped is None:
        with _shipped_lock:
            if _shipped is None:
                _shipped = IntentModel.load(SHIPPED_PATH)
    return _shipped
