"""The candidate page's tokens (bot/services/candidate_links.py): unguessable, stored
hashed, bound to one candidate, valid while an offer is open and 30 days after."""

from __future__ import annotations

from datetime import timedelta

from bot.services import candidate_links
from bot.storage.models import Candidate, CandidateToken, Offer
from tests.offer_steps import api, hire


async def _hired(rt, **offer) -> tuple[int, Offer]:
    async with api(rt) as client:
        answer = await hire(client, **offer)
    offer_row = await Offer.get(id=answer["id"])
    return offer_row.candidate_id, offer_row


def _token(url: str) -> str:
    return url.rsplit("/c/", 1)[1]


async def test_link_is_public_url_plus_token_and_only_the_hash_is_stored(
    make_runtime, settings_factory
):
    rt = await make_runtime(settings_factory(server={"public_url": "https://hr.example.com/"}))
    cid, _ = await _hired(rt)
    url = await candidate_links.link_for(rt, cid)
    assert url.startswith("https://hr.example.com/c/")
    token = _token(url)
    assert len(token) >= 22  # ≥ 128 bits in base64url
    rows = await CandidateToken.filter(candidate_id=cid).values_list("token_hash", flat=True)
    assert rows == [candidate_links.token_hash(token)] and token not in rows[0]
    assert (await candidate_links.resolve(token, rt.clock())).id == cid
    # a second link is a second token; both open the same page
    other = _token(await candidate_links.link_for(rt, cid))
    assert other != token
    assert (await candidate_links.resolve(other, rt.clock())).id == cid


async def test_unknown_tampered_and_malformed_tokens_resolve_to_none(rt):
    cid, _ = await _hired(rt)
    token = _token(await candidate_links.link_for(rt, cid))
    flipped = token[:-1] + ("A" if token[-1] != "A" else "B")
    for bad in (flipped, token + "x", token[:-1], "", "../../etc/passwd", "x" * 4000, "é" * 43):
        assert await candidate_links.resolve(bad, rt.clock()) is None, bad


async def test_valid_while_open_and_thirty_days_after_close(rt):
    cid, offer = await _hired(rt)
    token = _token(await candidate_links.link_for(rt, cid))
    now = rt.clock()
    assert await candidate_links.resolve(token, now + timedelta(days=400))  # still open
    await Offer.filter(id=offer.id).update(status="declined", closed_at=now)
    assert await candidate_links.resolve(token, now + timedelta(days=29, hours=23))
    assert await candidate_links.resolve(token, now + timedelta(days=30)) is None


async def test_no_offer_or_erased_or_revoked_means_no_page(rt):
    lonely = await Candidate.create(name="没有offer")
    token = await candidate_links.mint(lonely.id)
    assert await candidate_links.resolve(token) is None
    cid, _ = await _hired(rt)
    token = _token(await candidate_links.link_for(rt, cid))
    await candidate_links.revoke_all(cid)
    assert await candidate_links.resolve(token) is None
    assert await CandidateToken.filter(candidate_id=cid).count() == 0
    token = _token(await candidate_links.link_for(rt, cid))
    await Candidate.filter(id=cid).update(erased_at=rt.clock())
    assert await candidate_links.resolve(token) is None


async def test_only_the_newest_tokens_stay_live(rt):
    cid, _ = await _hired(rt)
    first = await candidate_links.mint(cid)
    for _ in range(candidate_links.MAX_LIVE):
        await candidate_links.mint(cid)
    assert await candidate_links.resolve(first) is None
    assert await CandidateToken.filter(candidate_id=cid, revoked_at__isnull=True).count() == (
        candidate_links.MAX_LIVE
    )
