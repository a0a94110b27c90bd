"""A literal prefilter for the rule tables (how they are read: bot/understanding/rules.py).

Most cues of bot/understanding/rule_tables.py cannot match a given reply: "不考虑了?" needs
"不考虑" in the text, "(?:去|来|入职)不了" needs "不了". `needs(pattern)` reads that off the
parsed pattern once, at import: a set of literal strings of which every non-empty match
contains one. `LiteralIndex` then answers, per reply, which patterns can match at all, so the
others are never run. Skipping is exact, never a guess: masking a span (rules.py) only
replaces characters by "\\x00", which no literal holds, so a literal missing from the reply
is missing from every masked version of it too. A pattern the analysis cannot read (flags,
back-references, anything unknown) gets `None` and always runs.
"""

from __future__ import annotations

from collections.abc import Sequence

try:  # the parser re.compile uses (private, but stable since Python 3.11)
    import re._constants as _c
    import re._parser as _parser
except ImportError:  # pragma: no cover - older layouts
    import sre_constants as _c  # type: ignore[no-redef]
    import sre_parse as _parser  # type: ignore[no-redef]

_CAP = 64  # finite match sets above this size are not followed (import time stays small)
_LONG = 4  # literals are glued from consecutive items up to this length
_METACHARS = frozenset(".^$*+?{}[]\\|()#")  # a pattern free of these is its own literal
_ZERO_WIDTH = frozenset({_c.AT, _c.ASSERT, _c.ASSERT_NOT})
_REPEATS = frozenset({_c.MAX_REPEAT, _c.MIN_REPEAT, getattr(_c, "POSSESSIVE_REPEAT", None)})

Found = tuple[frozenset[str] | None, frozenset[str] | None]  # (exact match set, need)


class _Unreadable(Exception):
    """The pattern uses something the analysis does not follow."""


def needs(pattern: str) -> frozenset[str] | None:
    """Literals one of which every non-empty match of `pattern` holds; None if unknown."""
    if pattern and not _METACHARS.intersection(pattern):  # a plain word: most table entries
        return frozenset({pattern}) if "\x00" not in pattern else None
    try:
        parsed = _parser.parse(pattern, 0)
        if parsed.state.flags & ~_c.SRE_FLAG_UNICODE:  # (?i), (?x), ...: do not guess
            return None
        need = _seq(parsed)[1]
    except (_Unreadable, RecursionError):
        return None
    if need is None or any(not s or "\x00" in s for s in need):
        return None
    return need


def _best(cands: list[frozenset[str]]) -> frozenset[str] | None:
    # Literals of two characters or more first, then the fewest, then the longest (up to
    # _LONG: a longer literal hardly ever rules out more replies).
    def key(s: frozenset[str]) -> tuple[bool, int, int]:
        shortest = min(map(len, s))
        return shortest >= 2, -len(s), min(shortest, _LONG)

    return max(cands, key=key) if cands else None


def _seq(items) -> Found:
    """A sequence of items: glue runs of items with finite match sets into literals."""
    runs: list[list[frozenset[str]]] = [[]]
    cands: list[frozenset[str]] = []
    word = ""  # consecutive characters are taken as one literal (fewer sets to glue)
    for op, av in items:
        if op is _c.LITERAL:
            word += chr(av)
            continue
        if word:
            runs[-1].append(frozenset({word}))
            word = ""
        exact, need = _node(op, av)
        if exact is None:
            runs.append([])
        else:
            runs[-1].append(exact)
        if need is not None:
            cands.append(need)
    if word:
        runs[-1].append(frozenset({word}))
    for run in runs:
        for i in range(len(run)):
            glued = frozenset({""})
            for part in run[i : i + _LONG]:
                glued = frozenset(a + b for a in glued for b in part)
                if len(glued) > _CAP:
                    break
                if "" not in glued:
                    cands.append(glued)
                    if min(map(len, glued)) >= _LONG:  # longer cannot rank higher
                        break
    exact = None
    if len(runs) == 1:
        exact = frozenset({""})
        for part in runs[0]:
            exact = frozenset(a + b for a in exact for b in part)
            if len(exact) > _CAP:
                exact = None
                break
    return exact, _best(cands)


def _node(op, av) -> Found:
    if op is _c.LITERAL:
        return frozenset({chr(av)}), None
    if op in _ZERO_WIDTH:  # adds nothing to the matched span
        return frozenset({""}), None
    if op is _c.IN:
        return _charset(av), None
    if op is _c.SUBPATTERN:
        _group, add_flags, del_flags, sub = av
        if add_flags or del_flags:
            raise _Unreadable
        return _seq(sub)
    if op is getattr(_c, "ATOMIC_GROUP", None):
        return _seq(av)
    if op is _c.BRANCH:
        found = [_seq(b) for b in av[1]]
        exact: frozenset[str] | None = None
        if all(e is not None for e, _ in found):
            exact = frozenset().union(*(e for e, _ in found))
            exact = exact if len(exact) <= _CAP else None
        need = None
        if all(n is not None for _, n in found):  # every branch needs one of its own
            need = frozenset().union(*(n for _, n in found))
        return exact, need
    if op in _REPEATS:
        lo, hi, sub = av
        exact, need = _seq(sub)
        if lo == 0:
            optional = exact | {""} if exact is not None and hi == 1 else None
            return optional, None
        return (exact if lo == hi == 1 else None), need
    if op in (_c.ANY, _c.NOT_LITERAL, _c.CATEGORY):
        return None, None
    raise _Unreadable  # back-references, conditionals, ...


def _charset(av) -> frozenset[str] | None:
    chars: set[str] = set()
    for op, val in av:
        if op is _c.LITERAL:
            chars.add(chr(val))
        elif op is _c.RANGE and val[1] - val[0] < _CAP:
            chars.update(chr(c) for c in range(val[0], val[1] + 1))
        else:  # NEGATE, categories, wide ranges
            return None
    return frozenset(chars) if len(chars) <= _CAP else None


class LiteralIndex:
    """Which of a list of patterns can match a text, from their `needs` (None: always)."""

    def __init__(self, wanted: Sequence[frozenset[str] | None]):
        self.always = frozenset(i for i, w in enumerate(wanted) if w is None)
        by_lit: dict[str, set[int]] = {}
        for i, w in enumerate(wanted):
            for lit in w or ():
                by_lit.setdefault(lit, set()).add(i)
        # Literals filed under their first character: a text is only checked for the
        # literals whose first character it holds; a one-character literal needs no check.
        single: dict[str, set[int]] = {}
        longer: dict[str, list[tuple[str, frozenset[int]]]] = {}
        for lit, items in sorted(by_lit.items()):
            if len(lit) == 1:
                single.setdefault(lit, set()).update(items)
            else:
                longer.setdefault(lit[0], []).append((lit, frozenset(items)))
        self._single = {c: frozenset(v) for c, v in single.items()}
        self._longer = {c: tuple(v) for c, v in longer.items()}
        self._firsts = frozenset(self._single) | frozenset(self._longer)

    def candidates(self, t: str) -> list[int]:
        """Indices of the patterns that may match somewhere in `t`, ascending."""
        found = set(self.always)
        single, longer = self._single, self._longer
        for ch in self._firsts.intersection(t):
            if ch in single:
                found |= single[ch]
            for lit, items in longer.get(ch, ()):
                if lit in t:
                    found |= items
        return sorted(found)
