"""Reading what HR types for /offer and /job: money, dates, deadlines and one-liners.

Pure functions (no database, no clock of their own: `today` is passed in, in the
company's time zone), so every rule here has a unit test (tests/test_offer_parse.py).
The words and examples HR sees are in docs/hr-commands.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation

from bot.privacy import normalize_phone

MAX_SALARY = Decimal("10000000")  # a monthly salary above this is a typo, not an offer
MAX_AHEAD_DAYS = 3 * 366  # a start date or deadline further out is a typo

# -- money ------------------------------------------------------------------------------

_MONEY = re.compile(
    r"^(?:[¥￥]|rmb|cny)?\s*(\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)\s*"
    r"(k|千|w|万)?\s*(?:元|块|rmb|cny|yuan)?(?:\s*/\s*(?:月|month|mo))?$",
    re.IGNORECASE,
)
_UNIT = {"k": 1000, "千": 1000, "w": 10000, "万": 10000}


def parse_money(text: str) -> Decimal | None:
    """'25k', '2.5万', '25,000', '25000元', '¥25000/月' → Decimal('25000'); None otherwise."""
    m = _MONEY.match(text.strip())
    if not m:
        return None
    try:
        amount = Decimal(m.group(1).replace(",", ""))
    except InvalidOperation:
        return None
    unit = (m.group(2) or "").lower()
    amount *= _UNIT.get(unit, 1)
    if amount <= 0 or amount > MAX_SALARY:
        return None
    whole = amount.to_integral_value()
    return whole if amount == whole else amount.quantize(Decimal("0.01"))


def looks_like_money(text: str) -> bool:
    """Money in a one-liner: a unit or separator, or a bare number of at least 1000 (a
    bare '2' is a headcount or a day, not a salary)."""
    amount = parse_money(text)
    if amount is None:
        return False
    return bool(re.search(r"[kKwW千万元块,¥￥]|rmb|cny", text, re.IGNORECASE)) or amount >= 1000


# -- dates ------------------------------------------------------------------------------

_WEEKDAYS_ZH = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6}
_WEEKDAYS_EN = {
    name: n
    for n, names in enumerate(
        [
            ("mon", "monday"),
            ("tue", "tuesday"),
            ("wed", "wednesday"),
            ("thu", "thursday"),
            ("fri", "friday"),
            ("sat", "saturday"),
            ("sun", "sunday"),
        ]
    )
    for name in names
}
_MONTHS_EN = {
    name: n
    for n, names in enumerate(
        [
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ],
        1,
    )
    for name in names
}
_RELATIVE = {"今天": 0, "今日": 0, "today": 0, "明天": 1, "明日": 1, "tomorrow": 1, "后天": 2}
_ISO = re.compile(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?$")
_MONTH_DAY = re.compile(r"^(\d{1,2})(?:月|[-/])(\d{1,2})[日号]?$")
_ZH_WEEKDAY = re.compile(r"^(下下|下|这|本)?(?:周|星期|礼拜)([一二三四五六日天])$")
_EN_WEEKDAY = re.compile(r"^(next\s+|this\s+)?([a-z]+)$")
_EN_MONTH_DAY = re.compile(r"^([a-z]+)\.?\s+(\d{1,2})(?:st|nd|rd|th)?$|^(\d{1,2})\s+([a-z]+)\.?$")


def _valid(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _next_year_if_past(found: date | None, today: date) -> date | None:
    """'1月4日' typed in December means next January."""
    if found is not None and found < today:
        return _valid(found.year + 1, found.month, found.day)
    return found


def _weekday(prefix: str, weekday: int, today: date) -> date:
    """周一 = the coming Monday (today's weekday: a week on); 下周一 = Monday of next week;
    这周一 = Monday of this week."""
    monday = today - timedelta(days=today.weekday())
    if prefix in ("这", "本", "this"):
        return monday + timedelta(days=weekday)
    if prefix in ("下", "next"):
        return monday + timedelta(days=7 + weekday)
    if prefix == "下下":
        return monday + timedelta(days=14 + weekday)
    ahead = (weekday - today.weekday()) % 7 or 7
    return today + timedelta(days=ahead)


def parse_date(text: str, today: date) -> date | None:
    """'2027-01-04', '2027年1月4日', '1月4日', '1/4', '明天', '下周一', 'next monday',
    'Jan 4' → a date not before today and not years ahead; None otherwise."""
    t = " ".join(text.strip().lower().split())
    found: date | None = None
    if t in _RELATIVE:
        found = today + timedelta(days=_RELATIVE[t])
    elif m := _ISO.match(t):
        found = _valid(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    elif m := _MONTH_DAY.match(t):
        found = _next_year_if_past(_valid(today.year, int(m.group(1)), int(m.group(2))), today)
    elif m := _ZH_WEEKDAY.match(t):
        found = _weekday(m.group(1) or "", _WEEKDAYS_ZH[m.group(2)], today)
    elif (m := _EN_WEEKDAY.match(t)) and m.group(2) in _WEEKDAYS_EN:
        found = _weekday((m.group(1) or "").strip(), _WEEKDAYS_EN[m.group(2)], today)
    elif m := _EN_MONTH_DAY.match(t):
        month_name, day = (m.group(1), m.group(2)) if m.group(1) else (m.group(4), m.group(3))
        if month_name in _MONTHS_EN:
            found = _valid(today.year, _MONTHS_EN[month_name], int(day))
            found = _next_year_if_past(found, today)
    if found is None or found < today or (found - today).days > MAX_AHEAD_DAYS:
        return None
    return found


_DAYS_WITHIN = re.compile(r"^(\d{1,2})\s*(?:天|日|d|days?)内?$", re.IGNORECASE)


def parse_deadline(text: str, today: date) -> date | None:
    """The reply deadline: a date as above, or '3天' / '3d' / '3 days' from today."""
    m = _DAYS_WITHIN.match(text.strip())
    if m:
        days = int(m.group(1))
        return today + timedelta(days=days) if 1 <= days <= 60 else None
    found = parse_date(text, today)
    return found if found is not None and found > today else None


# -- one-liners -------------------------------------------------------------------------

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
_IDENTITY = re.compile(r"^(wecom|feishu|web):([A-Za-z0-9_.:@-]{1,128})$", re.IGNORECASE)
_KEY_VALUE = re.compile(r"^([^\s=＝]{1,20})[=＝](.*)$")
_EN_PAIR = re.compile(r"^(next|this)$", re.IGNORECASE)


def is_phone(text: str) -> bool:
    if not re.fullmatch(r"[+\d\s()-]{7,24}", text.strip()):
        return False
    digits = normalize_phone(text) or ""
    if re.fullmatch(r"1[3-9]\d{9}", digits):  # a mainland mobile, in any usual form
        return True
    # Otherwise an international (+…) or a landline (0…) number, never a date like 2027-01-04.
    t = text.strip()
    return (t.startswith("+") and 8 <= len(digits) <= 15) or (
        t.startswith("0") and 10 <= len(digits) <= 12
    )


def tokens(text: str) -> list[str]:
    """Words of a one-liner; 'next monday' and 'Jan 4' stay one word."""
    words = text.split()
    out: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        nxt = words[i + 1] if i + 1 < len(words) else ""
        if nxt and (
            (_EN_PAIR.match(word) and nxt.lower() in _WEEKDAYS_EN)
            or (word.lower().rstrip(".") in _MONTHS_EN and re.fullmatch(r"\d{1,2}\w{0,2}", nxt))
        ):
            out.append(f"{word} {nxt}")
            i += 2
            continue
        out.append(word)
        i += 1
    return out


def key_values(words: list[str]) -> tuple[dict[str, str], list[str]]:
    """`key=value` pairs (a value runs on until the next `key=`) and the other words."""
    pairs: dict[str, str] = {}
    rest: list[str] = []
    current: str | None = None
    for word in words:
        m = _KEY_VALUE.match(word)
        if m:
            current = m.group(1).lower()
            pairs[current] = m.group(2)
        elif current is not None:
            pairs[current] = f"{pairs[current]} {word}".strip()
        else:
            rest.append(word)
    return pairs, rest


@dataclass
class OfferWords:
    """What one line of HR's text says about an offer; unset fields stay None."""

    name: str | None = None
    phone: str | None = None
    email: str | None = None
    identity: tuple[str, str] | None = None  # (platform, id)
    job: str | None = None
    salary: Decimal | None = None
    start_date: date | None = None
    deadline: date | None = None
    expect: str | None = None
    # Words that looked like a field but did not parse (e.g. 'salary=abc'): field → text.
    bad: dict[str, str] = field(default_factory=dict)
    leftover: list[str] = field(default_factory=list)


_OFFER_KEYS = {
    "name": "name", "姓名": "name", "候选人": "name",
    "phone": "phone", "手机": "phone", "电话": "phone",
    "email": "email", "邮箱": "email",
    "job": "job", "职位": "job", "岗位": "job",
    "salary": "salary", "月薪": "salary", "薪资": "salary",
    "start": "start_date", "入职": "start_date", "入职日期": "start_date",
    "deadline": "deadline", "截止": "deadline", "回复截止": "deadline",
    "expect": "expect", "期望": "expect",
}  # fmt: skip


def offer_key(word: str) -> str | None:
    return _OFFER_KEYS.get(word.strip().lower())


def read_offer_words(text: str, today: date) -> OfferWords:
    """`张三 13800138000 前端工程师 25k 2027-01-04` (any order for the typed parts; of the
    plain words the first is the name and the second the job) and `key=value` pairs."""
    pairs, rest = key_values(tokens(text))
    words = OfferWords()
    for key, value in pairs.items():
        name = offer_key(key)
        if name is None:
            words.leftover.append(f"{key}={value}")
        elif not set_offer_field(words, name, value.strip(), today):
            words.bad[name] = value
    plain: list[str] = []
    for word in rest:
        if _EMAIL.match(word) and words.email is None:
            words.email = word
        elif (m := _IDENTITY.match(word)) and words.identity is None:
            words.identity = (m.group(1).lower(), m.group(2))
        elif is_phone(word) and words.phone is None and not looks_like_money(word):
            words.phone = word
        elif looks_like_money(word) and words.salary is None:
            words.salary = parse_money(word)
        elif words.start_date is None and (day := parse_date(word, today)) is not None:
            words.start_date = day
        else:
            plain.append(word)
    for name in ("name", "job"):
        if plain and getattr(words, name) is None:
            setattr(words, name, plain.pop(0))
    words.leftover += plain
    return words


def set_offer_field(words: OfferWords, name: str, value: str, today: date) -> bool:
    """Set one field from HR's answer to its question; False when it does not parse."""
    if not value:
        return False
    if name == "salary":
        words.salary = parse_money(value)
        return words.salary is not None
    if name == "start_date":
        words.start_date = parse_date(value, today)
        return words.start_date is not None
    if name == "deadline":
        words.deadline = parse_deadline(value, today)
        return words.deadline is not None
    if name == "phone":
        if not is_phone(value):
            return False
        words.phone = value
        return True
    if name == "email":
        if not _EMAIL.match(value):
            return False
        words.email = value
        return True
    if name in ("name", "job", "expect"):
        setattr(words, name, value[:200])
        return True
    return False


def contact(text: str) -> dict[str, object] | None:
    """A phone, an e-mail or a chat identity (`wecom:zhangsan`, `feishu:ou_…`)."""
    t = text.strip()
    if _EMAIL.match(t):
        return {"email": t}
    if m := _IDENTITY.match(t):
        return {"identity": (m.group(1).lower(), m.group(2))}
    if is_phone(t):
        return {"phone": t}
    return None


# -- expectations (for the pre-offer advisory) -----------------------------------------

_REMOTE = re.compile(r"^(?:远程|remote)\s*(\d)\s*(?:天|日|d|days?)?(?:/周|/week)?$", re.IGNORECASE)
NONE_WORDS = ("无", "没有", "不填", "跳过", "none", "no", "skip", "-")


def parse_expectations(text: str) -> dict[str, object] | None:
    """'30k 远程3天 北京' → {'salary_min': 30000, 'remote_days_per_week': 3,
    'location': '北京'}; '无' → {}; None when nothing in it can be read."""
    t = text.strip()
    if t.lower() in NONE_WORDS:
        return {}
    pairs, rest = key_values(tokens(t))
    found: dict[str, object] = {}
    place: list[str] = []
    for word in rest:
        if m := _REMOTE.match(word):
            found["remote_days_per_week"] = min(int(m.group(1)), 7)
        elif looks_like_money(word):
            found["salary_min"] = parse_money(word)
        else:
            place.append(word)
    notes = pairs.get("备注") or pairs.get("notes")
    if place:
        found["location"] = place[0][:100]
        if len(place) > 1:
            notes = " ".join([*place[1:], notes or ""]).strip()
    if notes:
        found["notes"] = notes[:2000]
    return found or None


# -- /job one-liners --------------------------------------------------------------------

_HEADCOUNT = re.compile(r"^(\d{1,5})\s*(?:人|名|个|hc|heads?|people)$", re.IGNORECASE)
_URGENCY = {
    "急": "high", "紧急": "high", "急招": "high", "urgent": "high",
    "不急": "low", "不紧急": "low", "low": "low", "普通": "normal", "normal": "normal",
}  # fmt: skip
_OVERTIME = {
    "不加班": "none", "无加班": "none", "no-overtime": "none",
    "偶尔加班": "occasional", "少量加班": "occasional", "occasional-overtime": "occasional",
    "经常加班": "frequent", "常加班": "frequent", "996": "frequent",
    "frequent-overtime": "frequent",
}  # fmt: skip
_STATUS = {
    "开放": "open", "招聘中": "open", "open": "open", "暂停": "paused", "paused": "paused",
    "招满": "filled", "已招满": "filled", "filled": "filled", "关闭": "closed",
    "closed": "closed",
}  # fmt: skip
_NO_REMOTE = ("不远程", "无远程", "no-remote")
_JOB_KEYS = {
    "title": "title", "职位": "title", "名称": "title",
    "headcount": "headcount", "人数": "headcount", "hc": "headcount",
    "urgency": "urgency", "紧急": "urgency", "紧急度": "urgency",
    "remote": "remote_days_per_week", "远程": "remote_days_per_week",
    "overtime": "overtime", "加班": "overtime",
    "location": "location", "地点": "location", "城市": "location",
    "department": "department", "部门": "department",
    "status": "status", "状态": "status",
    "documents": "documents", "材料": "documents",
    "guide": "onboarding_guide", "指引": "onboarding_guide", "入职指引": "onboarding_guide",
}  # fmt: skip
_CHOICES = {"urgency": _URGENCY, "overtime": _OVERTIME, "status": _STATUS}


@dataclass
class JobWords:
    fields: dict[str, object] = field(default_factory=dict)  # RequisitionIn field → value
    plain: list[str] = field(default_factory=list)  # title, then location
    bad: dict[str, str] = field(default_factory=dict)  # field → the words that did not fit


def _job_value(name: str, value: str) -> object | None:
    v = value.strip()
    if name == "headcount":
        m = _HEADCOUNT.match(v) or re.fullmatch(r"(\d{1,5})", v)
        return int(m.group(1)) if m else None
    if name == "remote_days_per_week":
        if v in _NO_REMOTE:
            return 0
        m = re.fullmatch(r"(?:远程|remote)?\s*(\d)\s*(?:天|日|d|days?)?", v, re.IGNORECASE)
        return int(m.group(1)) if m and int(m.group(1)) <= 7 else None
    if name in _CHOICES:
        table = _CHOICES[name]
        key = v.lower()
        if key in table:
            return table[key]
        if key.endswith("加班") is False and f"{key}加班" in table:
            return table[f"{key}加班"]
        return key if key in table.values() else None
    if name == "documents":
        items = [i for i in re.split(r"[,，、\s]+", v) if i]
        return items or None
    return v[:10_000] if v else None


def read_job_words(text: str) -> JobWords:
    """`前端工程师 2人 急 远程2天 偶尔加班 上海` and `key=value` pairs (`指引=…` runs on to
    the next pair). Of the plain words the first is the title, the next the location."""
    pairs, rest = key_values(text.split())
    words = JobWords()
    for key, value in pairs.items():
        name = _JOB_KEYS.get(key)
        parsed = _job_value(name, value) if name else None
        if parsed is None:
            words.bad[name or key] = value
        else:
            words.fields[name] = parsed
    for word in rest:
        if _REMOTE.match(word) and _job_value("remote_days_per_week", word) is None:
            words.bad["remote_days_per_week"] = word
            continue
        low = word.lower()
        if (m := _HEADCOUNT.match(word)) and "headcount" not in words.fields:
            words.fields["headcount"] = int(m.group(1))
        elif low in _URGENCY and "urgency" not in words.fields:
            words.fields["urgency"] = _URGENCY[low]
        elif low in _OVERTIME and "overtime" not in words.fields:
            words.fields["overtime"] = _OVERTIME[low]
        elif low in _STATUS and "status" not in words.fields:
            words.fields["status"] = _STATUS[low]
        elif (low in _NO_REMOTE or _REMOTE.match(word)) and "remote_days_per_week" not in (
            words.fields
        ):
            words.fields["remote_days_per_week"] = _job_value("remote_days_per_week", word)
        else:
            words.plain.append(word)
    return words
