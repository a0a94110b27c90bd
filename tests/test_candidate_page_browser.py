"""The candidate page in a real headless chromium at phone size (360×740): open the link
from the invite, see the offer, ask, accept, upload a photo, see progress k/n; nothing
scrolls sideways and hostile words stay words. The server runs as `offerbot serve` runs
it (app + worker in one process). Screenshot: test-artifacts/candidate-page-*.png.
"""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

import pytest

from bot.storage.models import Document, Offer
from tests.helpers import auth, wait_for
from tests.test_playground_browser import (
    ARTIFACTS,
    WAIT_MS,
    chromium,
    photo,
    pytestmark,  # noqa: F401 - skipped, saying why, without chromium
    running,
)

PHONE = {"width": 360, "height": 740}
HOSTILE = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>'


async def _invite(client) -> dict:
    async def post(path, body):
        resp = await client.post(f"/api/v1/{path}", json=body, headers=auth())
        assert resp.status in (200, 201), await resp.text()
        return await resp.json()

    await post(
        "requisitions",
        {
            "external_id": "req-fe",
            "title": "前端工程师（React / TypeScript，上海徐汇）",
            "documents": ["id_card_front", "id_card_back", "photo"],
            "location": "上海市徐汇区漕溪北路 88 号 12 楼",
        },
    )
    person = await post("candidates", {"name": "林小雨", "phone": "13800138000"})
    application = await post(
        "applications", {"candidate_id": person["id"], "requisition_external_id": "req-fe"}
    )
    start = (date.today() + timedelta(days=20)).isoformat()
    return await post(
        "offers",
        {"application_id": application["id"], "salary_monthly": "28000", "start_date": start},
    )


async def no_sideways_scroll(page) -> None:
    width = await page.evaluate("document.documentElement.scrollWidth")
    inner = await page.evaluate("window.innerWidth")
    # On a phone a too-wide page also widens the layout viewport (the browser zooms out).
    assert inner == PHONE["width"], f"innerWidth {inner}: the page is wider than the phone"
    assert width <= inner, f"scrollWidth {width} > innerWidth {inner}"


@pytest.mark.timeout(300)
async def test_a_candidate_answers_and_uploads_on_a_phone(make_runtime, settings_factory):
    settings = settings_factory(server={"public_url": "https://hr.example.com"})
    rt = await make_runtime(settings)
    ARTIFACTS.mkdir(exist_ok=True)
    errors: list[str] = []

    def console(message) -> None:
        # Expected: the browser's own favicon probe, and the refused .txt upload (415).
        url = message.location.get("url", "")
        if not (url.endswith("/favicon.ico") or url.endswith("/api/upload")):
            errors.append(f"{message.text} {url}")

    async with running(rt) as server, chromium() as browser:
        from aiohttp import ClientSession

        async with ClientSession(base_url=str(server.make_url(""))) as client:
            answer = await _invite(client)
        link = answer["invite_url"]
        assert link.startswith("https://hr.example.com/c/")
        path = "/c/" + link.rsplit("/c/", 1)[1]  # the same page, on this test server
        offer_id = answer["id"]

        page = await browser.new_page(viewport=PHONE, device_scale_factor=2, is_mobile=True)
        page.set_default_timeout(WAIT_MS)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda m: m.type == "error" and console(m))
        page.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
        await page.goto(str(server.make_url(path)))

        # The offer, its buttons, and the card in the conversation (the page bound them).
        await page.locator("#offer-job", has_text="前端工程师").wait_for()
        await page.locator("#messages .msg.out").first.wait_for()
        await page.locator('#offer-actions button[data-action="accept"]').wait_for()
        actions = page.locator("#offer-actions button")
        labels = await actions.all_inner_texts()
        assert any("接受" in x for x in labels) and any("婉拒" in x for x in labels)
        assert any("我有问题" in x for x in labels)
        await no_sideways_scroll(page)

        # A question, then free text with a doubt: both answered in the conversation.
        before = await page.locator("#messages .msg.out").count()
        await page.locator('#offer-actions button[data-action="question"]').click()
        await page.wait_for_function(
            "n => document.querySelectorAll('#messages .msg.out').length > n", arg=before
        )
        before = await page.locator("#messages .msg.out").count()
        await page.fill("#input", "我再考虑一下，薪资能否再谈？")
        await page.press("#input", "Enter")
        await page.wait_for_function(
            "n => document.querySelectorAll('#messages .msg.out').length > n", arg=before
        )

        # Hostile words are shown as words.
        await page.fill("#input", HOSTILE)
        await page.click("#send")
        await page.locator("#messages .msg.in", has_text=HOSTILE).first.wait_for()
        assert await page.evaluate("window.__pwned") is None
        assert await page.locator("#messages img[src='x']").count() == 0
        # One long unbroken word (a pasted link) must wrap, not widen the page.
        long_word = "https://example.com/" + "x" * 160
        await page.fill("#input", long_word)
        await page.click("#send")
        await page.locator("#messages .msg.in", has_text=long_word).first.wait_for()
        await no_sideways_scroll(page)

        # Accept: the offer moves, the documents section appears with 0/3.
        await page.locator('#offer-actions button[data-action="accept"]').click()

        async def accepted():
            return (await Offer.get(id=offer_id)).status == "accepted"

        await wait_for(accepted, WAIT_MS / 1000)
        await page.locator("#progress-text", has_text="0/3").wait_for()

        # A photo of the first document: progress 1/3, in the card and the conversation.
        await page.set_input_files(
            "#file", files=[{"name": "身份证正面.jpg", "mimeType": "image/jpeg", "buffer": photo()}]
        )
        candidate_id = (await Offer.get(id=offer_id)).candidate_id
        await wait_for(lambda: Document.filter(candidate_id=candidate_id).exists(), WAIT_MS / 1000)
        await page.locator("#progress-text", has_text="1/3").wait_for()
        await page.locator("#messages .msg.out", has_text="1/3").first.wait_for()

        # Wrong type: refused politely, nothing stored.
        await page.set_input_files(
            "#file", files=[{"name": "a.txt", "mimeType": "text/plain", "buffer": b"hello"}]
        )
        await page.locator("#status", has_text="PDF").wait_for()

        await no_sideways_scroll(page)
        await page.screenshot(path=ARTIFACTS / "candidate-page-phone.png", full_page=True)
        await page.evaluate("window.scrollTo(0, 0)")
        await page.screenshot(path=ARTIFACTS / "candidate-page-top.png")
    assert errors == []


@pytest.mark.timeout(300)
async def test_a_page_whose_event_stream_is_blocked_polls_and_still_hears_the_bot(
    make_runtime, settings_factory
):
    """A proxy that never lets the stream through (here: the browser refuses every
    `api/events` request): after three failed streams the page polls `api/history`, and
    the bot's answer to a question still appears."""
    rt = await make_runtime(settings_factory(server={"public_url": "https://hr.example.com"}))
    async with running(rt) as server, chromium() as browser:
        from aiohttp import ClientSession

        async with ClientSession(base_url=str(server.make_url(""))) as client:
            link = (await _invite(client))["invite_url"]
        page = await browser.new_page(viewport=PHONE, is_mobile=True)
        page.set_default_timeout(WAIT_MS)
        streams: list[str] = []

        async def refuse(route) -> None:
            streams.append(route.request.url)
            await route.abort()

        await page.route("**/api/events*", refuse)
        await page.goto(str(server.make_url("/c/" + link.rsplit("/c/", 1)[1])))
        await page.locator('body[data-connection="polling"]').wait_for()
        assert len(streams) >= 3  # it tried the stream first, three times
        before = await page.locator("#messages .msg.out").count()
        await page.locator('#offer-actions button[data-action="question"]').click()
        await page.wait_for_function(
            "n => document.querySelectorAll('#messages .msg.out').length > n", arg=before
        )
        assert await page.locator('body[data-connection="polling"]').count() == 1
