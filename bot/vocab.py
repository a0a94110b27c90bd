"""The product's fixed vocabulary (docs/offer-flow.md): intents, concerns, reasons, statuses."""

INTENTS = ("accept", "decline", "hesitate", "question", "other")
CONCERNS = (
    "salary",
    "overtime",
    "location",
    "competing_offer",
    "role_fit",
    "team_culture",
    "family",
    "timing",
    "process",
)
REASON_CATEGORIES = (*CONCERNS, "info_mismatch", "other")
OFFER_STATUSES = ("sent", "accepted", "declined", "expired", "withdrawn", "reneged", "onboarded")
# The offer column that records reaching each status after `sent`.
STATUS_TIMESTAMP = {
    "accepted": "accepted_at",
    "declined": "declined_at",
    "expired": "expired_at",
    "withdrawn": "withdrawn_at",
    "reneged": "reneged_at",
    "onboarded": "onboarded_at",
}
# Offers lost on the candidate's side: applying again after one makes a re-applicant.
LOST_STATUSES = ("declined", "reneged", "expired")
PLATFORMS = ("wecom", "feishu", "web")
