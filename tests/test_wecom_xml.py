"""WeCom's XML parser (bot/channels/wecom/crypto.py::parse_xml, on expat): the dict it
gives, and what it refuses with 400 while parsing (the HTTP-level barrage is in
tests/faults/test_hostile_input.py)."""

from __future__ import annotations

import pytest

from bot.channels.platform.errors import Rejected
from bot.channels.wecom.crypto import MAX_DEPTH, MAX_ELEMENTS, parse_xml


def test_leaves_nested_and_repeated_elements():
    xml = (
        "<xml><ToUserName><![CDATA[ww1]]></ToUserName><Content><![CDATA[你好 &amp; <b>]]>"
        "</Content><MsgId> 123 </MsgId><SendPicsInfo><Count>2</Count><PicList>"
        "<item><PicMd5Sum>a</PicMd5Sum></item><item><PicMd5Sum>b</PicMd5Sum></item>"
        "</PicList></SendPicsInfo><A> x <B>y</B> z</A><E/><R>&lt;&#20320;</R></xml>"
    )
    assert parse_xml(xml.encode()) == {
        "ToUserName": "ww1",
        "Content": "你好 &amp; <b>",
        "MsgId": "123",
        "SendPicsInfo": {
            "Count": "2",
            "PicList": {"item": [{"PicMd5Sum": "a"}, {"PicMd5Sum": "b"}]},
        },
        "A": {"B": "y"},
        "E": "",
        "R": "<你",
    }
    assert parse_xml("<xml>text</xml>") == {}
    assert parse_xml("<xml><a>1</a><a>2</a><a>3</a></xml>") == {"a": ["1", "2", "3"]}
    assert parse_xml("<xml xmlns:w='urn:x'><w:a>1</w:a></xml>") == {"{urn:x}a": "1"}


def test_the_limits_are_inclusive():
    deep = "<x>" * MAX_DEPTH + "</x>" * MAX_DEPTH
    value = parse_xml(deep)
    for _ in range(MAX_DEPTH - 2):  # the root's children, down to the innermost leaf
        value = value["x"]
    assert value == {"x": ""}
    assert parse_xml("<xml>" + "<a/>" * (MAX_ELEMENTS - 1) + "</xml>") == {
        "a": [""] * (MAX_ELEMENTS - 1)
    }


@pytest.mark.parametrize(
    ("xml", "reason"),
    [
        ('<!DOCTYPE x [<!ENTITY a "aaaa">]><xml><a>&a;</a></xml>', "DTDForbidden"),
        ('<!DOCTYPE x SYSTEM "http://127.0.0.1:9/x.dtd"><xml/>', "DTDForbidden"),
        ("<xml><a>&undefined;</a></xml>", "ParseError"),
        ("<xml><a>", "ParseError"),
        ("not xml", "ParseError"),
        ("", "ParseError"),
        (b'<?xml version="1.0" encoding="GBK"?><xml><a>\xc4\xe3</a></xml>', "ValueError"),
        ("<x>" * (MAX_DEPTH + 1) + "</x>" * (MAX_DEPTH + 1), "deeper than"),
        ("<x>" * 1000 + "</x>" * 1000, "deeper than"),
        ("<xml>" + "<a/>" * MAX_ELEMENTS + "</xml>", "more than"),
    ],
)
def test_refused_with_400(xml, reason):
    with pytest.raises(Rejected) as caught:
        parse_xml(xml)
    assert caught.value.status == 400
    assert reason in str(caught.value)
