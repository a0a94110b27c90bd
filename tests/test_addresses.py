"""Addresses are taken apart in bot/channels/addresses.py only, and Inbound rows stored
before the typed fields (`card_ref`, `binding_code`) read back the same."""

from types import SimpleNamespace

from bot.channels.addresses import (
    addresses_of,
    conversation_address,
    group_address,
    identity_for,
    is_group_address,
    is_kf_address,
)
from bot.channels.base import Inbound


def test_address_kinds_and_the_columns_they_are_stored_in():
    assert is_kf_address("kf:wmABC") and not is_kf_address("zhangsan")
    assert is_group_address(group_address("oc_1")) and not is_group_address("ou_1")
    assert identity_for("wecom", "kf:wmABC") == ("wecom_external_userid", "wmABC")
    assert identity_for("wecom", "zhangsan") == ("wecom_user_id", "zhangsan")
    assert identity_for("feishu", "ou_1") == ("feishu_open_id", "ou_1")
    assert identity_for("web", "c1") == ("web_id", "c1")
    assert identity_for("sms", "138") is None  # no candidate column: not an identity


def test_a_candidates_addresses_carry_their_prefix_back():
    person = SimpleNamespace(wecom_user_id="", wecom_external_userid="wmX", feishu_open_id="ou")
    assert list(addresses_of(person, "wecom")) == ["kf:wmX"]
    assert list(addresses_of(person, "feishu")) == ["ou"]
    assert list(addresses_of(person, "web")) == []


def test_a_group_message_lives_in_its_group():
    group = Inbound(
        platform="feishu", event_id="e", sender_id="ou", chat_type="group", chat_id="oc"
    )
    assert conversation_address(group) == "chat:oc"
    private = Inbound(platform="feishu", event_id="e", sender_id="ou")
    assert conversation_address(private) == "ou"


def stored(**fields) -> Inbound:
    """An Inbound read back from a row written before the typed fields existed."""
    return Inbound.model_validate(
        {"platform": "wecom", "event_id": "e", "sender_id": "s", **fields}
    )


def test_older_stored_payloads_fill_the_typed_fields():
    click = stored(kind="action", extra={"response_code": "RC-9", "task_id": "t"})
    assert click.card_ref == "RC-9"
    entered = stored(kind="event", event={"event": "enter_session", "scene_param": "123456"})
    assert entered.binding_code == "123456"
    other = stored(kind="event", event={"event": "kf_msg_or_event", "scene_param": "123456"})
    assert other.binding_code == ""
    # A stored row with the typed fields keeps them as they are.
    again = Inbound.model_validate(click.model_dump(mode="json"))
    assert again == click
