"""What an offer remembers besides its columns (`Offer.data`), typed.

The column is JSON; `OfferData` is what it holds. Code reads it with `offer_data(offer)`
and changes it with `set_offer_data(offer, key=value, …)` (in memory: the caller saves
`data` with the offer's other changed fields), nowhere else. As with the conversation's
context (bot/storage/context.py): keys this version does not know are kept on save, and
a known key whose value does not read as its type counts as absent.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_core import to_jsonable_python

from bot.storage.models import Offer

Text = Annotated[str, Strict(), Field(min_length=1)]
Flag = Annotated[bool, Strict()]


class OfferData(BaseModel):
    model_config = ConfigDict(extra="allow", validate_assignment=True)

    # The deadline was not given by the ATS: it counts from when the offer is sent
    # (an invited candidate's clock starts once they open the invite).
    expires_defaulted: Flag = False
    # (platform, address) the offer message went to: later messages about it follow.
    address: tuple[Text, Text] | None = None
    # Who opened the invite, as "platform:user id" (bot/flows/binding.py).
    bound_to: Text | None = None
    # Set by a click on 我有问题: the candidate's next words are their question, whatever
    # they read as (docs/offer-flow.md: a question alert only when there is a question).
    question_pending: Flag = False

    @field_validator("expires_defaulted", "address", "bound_to", "question_pending", mode="wrap")
    @classmethod
    def _absent_if_malformed(cls, value: Any, handler: Any, info: ValidationInfo) -> Any:
        try:
            return handler(value)
        except ValidationError:
            return cls.model_fields[info.field_name or ""].get_default()

    def stored(self) -> dict[str, Any]:
        """The column's JSON (defaults left out, unknown keys kept)."""
        return self.model_dump(mode="json", exclude_defaults=True)


def offer_data(offer: Offer) -> OfferData:
    raw = offer.data if isinstance(offer.data, dict) else {}
    return OfferData.model_validate(raw)


def set_offer_data(offer: Offer, **changes: Any) -> OfferData:
    """Change some keys of `offer.data` in memory (save "data" with the offer). A key the
    model does not name, or a value that is not of its type, is a bug: raised, not stored."""
    unknown = set(changes) - set(OfferData.model_fields)
    if unknown:
        raise TypeError(f"Offer.data has no key {sorted(unknown)}")
    data = offer_data(offer)
    for key, value in changes.items():
        setattr(data, key, value)
        if to_jsonable_python(getattr(data, key)) != to_jsonable_python(value):
            raise ValueError(f"Offer.data {key}: not a valid value: {value!r}")
    offer.data = data.stored()
    return data
