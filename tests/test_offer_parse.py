"""The words HR types for /offer and /job (bot/commands/offer_parse.py): pure functions."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from bot.commands.offer_parse import (
    looks_like_money,
    parse_date,
    parse_deadline,
    parse_expectations,
    parse_money,
    read_job_words,
    read_offer_words,
)

THU = date(2026, 12, 3)  # a Thursday in December: 1月4日 is next year


@pytest.mark.parametrize(
    "text, amount",
    [
        ("25k", 25000), ("25K", 25000), ("2.5万", 25000), ("2.5w", 25000), ("25,000", 25000),
        ("25000元", 25000), ("25000", 25000), ("¥25000/月", 25000), ("25 k", 25000),
        ("18.5k", 18500), ("1,234,567", 1234567), ("25000.50", Decimal("25000.50")),
    ],
)  # fmt: skip
def test_money_in_every_usual_form(text, amount):
    assert parse_money(text) == Decimal(amount)


@pytest.mark.parametrize(
    "text", ["", "abc", "二万五", "0", "-5k", "25,00", "1e5", "25kk", "99999999999", "25k元元"]
)
def test_money_that_is_not(text):
    assert parse_money(text) is None


def test_a_bare_small_number_is_not_money_in_a_one_liner():
    assert not looks_like_money("2") and looks_like_money("2k") and looks_like_money("8000")


@pytest.mark.parametrize(
    "text, day",
    [
        ("2027-01-04", date(2027, 1, 4)), ("2027/1/4", date(2027, 1, 4)),
        ("2027年1月4日", date(2027, 1, 4)), ("1月4日", date(2027, 1, 4)),  # across the year end
        ("12月24日", date(2026, 12, 24)), ("12/24", date(2026, 12, 24)),
        ("明天", date(2026, 12, 4)), ("后天", date(2026, 12, 5)), ("今天", THU),
        ("下周一", date(2026, 12, 7)), ("周一", date(2026, 12, 7)), ("周五", date(2026, 12, 4)),
        ("周四", date(2026, 12, 10)), ("下下周一", date(2026, 12, 14)),
        ("星期三", date(2026, 12, 9)), ("tomorrow", date(2026, 12, 4)),
        ("next monday", date(2026, 12, 7)), ("Friday", date(2026, 12, 4)),
        ("Jan 4", date(2027, 1, 4)), ("4 January", date(2027, 1, 4)),
    ],
)  # fmt: skip
def test_dates_relative_to_the_company_day(text, day):
    assert parse_date(text, THU) == day


@pytest.mark.parametrize(
    "text", ["", "2026-11-01", "2027-02-30", "13月1日", "1/45", "明年", "soon", "2.5", "2040-01-01"]
)
def test_dates_that_are_not_or_are_in_the_past(text):
    assert parse_date(text, THU) is None


def test_deadlines_are_days_ahead_or_a_later_date():
    assert parse_deadline("3天", THU) == date(2026, 12, 6)
    assert parse_deadline("3 days", THU) == date(2026, 12, 6)
    assert parse_deadline("1月10日", THU) == date(2027, 1, 10)
    assert parse_deadline("今天", THU) is None  # a deadline is after today
    assert parse_deadline("0天", THU) is None and parse_deadline("99d", THU) is None


def test_a_one_line_offer_in_any_order():
    words = read_offer_words("张三 13800138000 前端工程师 25k 2027-01-04", THU)
    assert (words.name, words.phone, words.job) == ("张三", "13800138000", "前端工程师")
    assert (words.salary, words.start_date) == (Decimal(25000), date(2027, 1, 4))
    again = read_offer_words("下周一 2.5万 张三 前端工程师 zs@example.com", THU)
    assert (again.email, again.salary, again.start_date) == (
        "zs@example.com",
        Decimal(25000),
        date(2026, 12, 7),
    )
    assert again.phone is None and again.leftover == []


def test_a_one_liner_with_key_values_chat_ids_and_english():
    words = read_offer_words(
        "feishu:ou_abc name=Zhang San job=Frontend engineer salary=25k start=next monday", THU
    )
    assert (words.name, words.job, words.identity) == (
        "Zhang San",
        "Frontend engineer",
        ("feishu", "ou_abc"),
    )
    assert words.start_date == date(2026, 12, 7) and words.salary == 25000
    bad = read_offer_words("张三 salary=lots 入职=someday", THU)
    assert set(bad.bad) == {"salary", "start_date"}


def test_expectations_for_the_advisory():
    assert parse_expectations("30k 远程3天 北京") == {
        "salary_min": Decimal(30000),
        "remote_days_per_week": 3,
        "location": "北京",
    }
    assert parse_expectations("无") == {} and parse_expectations("none") == {}
    assert parse_expectations("remote2") == {"remote_days_per_week": 2}


def test_a_one_line_job():
    words = read_job_words("前端工程师 2人 急 远程2天 偶尔加班 上海")
    assert words.plain == ["前端工程师", "上海"]
    assert words.fields == {
        "headcount": 2,
        "urgency": "high",
        "remote_days_per_week": 2,
        "overtime": "occasional",
    }
    edit = read_job_words("#3 人数=5 加班=经常 指引=周一 9:30 到前台 材料=身份证正面,photo")
    assert edit.plain == ["#3"]
    assert edit.fields["onboarding_guide"] == "周一 9:30 到前台"
    assert edit.fields["documents"] == ["身份证正面", "photo"]
    assert (edit.fields["headcount"], edit.fields["overtime"]) == (5, "frequent")
    assert read_job_words("x 远程9天 人数=很多").bad.keys() == {"remote_days_per_week", "headcount"}


@pytest.mark.parametrize(
    "text, phone",
    [("13800138000", True), ("+86 138-0013-8000", True), ("+44 20 7946 0958", True),
     ("010-62345678", True), ("2027-01-04", False), ("25000", False), ("12345678", False)],
)  # fmt: skip
def test_phones_are_not_dates_or_money(text, phone):
    from bot.commands.offer_parse import is_phone

    assert is_phone(text) is phone
