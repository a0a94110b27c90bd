"""The playground in a real headless browser (Debian's chromium driven by Playwright).

The server is the real one, composed as `offerbot serve` composes it: the aiohttp app on
a free port and the arq worker (with its sweeper) in the same process, on a real database
and the embedded Redis. A newcomer's settings: no platform, no API token, no HR admins.

Needs `apt-get install -y chromium` and `pip install playwright` (no `playwright install`:
the system chromium is used). Without them the test is skipped, saying so. Screenshots
go to test-artifacts/playground-*.png.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import shutil
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer
from PIL import Image

from bot.app import build_app
from bot.channels.base import HR_GROUP
from bot.channels.web.channel import PLAYGROUND_HR_ID
from bot.i18n import Catalog
from bot.storage.models import Candidate, Document, Offer, Outbox
from bot.worker import build_worker
from tests.helpers import API_TOKEN, wait_for

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
# Generous: a loaded CI machine can be slow; every wait ends as soon as its condition holds.
WAIT_MS = 60_000

try:
    from playwright.async_api import async_playwright
except ImportError:  # pragma: no cover - depends on the machine
    async_playwright = None

pytestmark = pytest.mark.skipif(
    async_playwright is None or not CHROMIUM.exists() or shutil.which(str(CHROMIUM)) is None,
    reason="needs chromium (apt-get install -y chromium) and playwright (pip install playwright)",
)


def photo() -> bytes:
    """A photo big enough for the document checks (short side ≥ 600 px)."""
    image = Image.new("RGB", (1200, 800), (235, 235, 225))
    for x in range(100, 1100, 40):
        for y in range(100, 700):
            image.putpixel((x, y), (40, 60, 90))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=85)
    return out.getvalue()


@contextlib.asynccontextmanager
async def running(rt, port: int | None = None):
    """The app and a worker on one runtime, as `offerbot serve` runs them (on `port`, when
    the settings' `server.public_url` must name it)."""
    web_server = TestServer(build_app(rt), host="127.0.0.1", port=port)
    await web_server.start_server()
    worker = build_worker(rt)
    task = asyncio.create_task(worker.async_run())
    try:
        yield web_server
    finally:
        await web_server.close()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await worker.close()


@contextlib.asynccontextmanager
async def chromium():
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield browser
        finally:
            await browser.close()


@pytest.fixture
async def server(make_runtime, settings_factory):
    """A newcomer's server: no platform, no API token, no HR admins configured."""
    rt = await make_runtime(settings_factory(api={"token": ""}, hr={"admins": []}))
    async with running(rt) as web_server:
        yield web_server


@pytest.mark.timeout(300)
async def test_a_newcomer_runs_the_demo_in_a_browser(server):
    ARTIFACTS.mkdir(exist_ok=True)
    errors: list[str] = []
    async with chromium() as browser:
        page = await browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(WAIT_MS)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
        catalog = Catalog("zh")
        await page.goto(str(server.make_url("/playground")))
        candidate_pane = page.locator("#candidate-messages")
        hr_pane = page.locator("#hr-messages")

        # 1. Start a demo: the offer card reaches the candidate, alerts reach HR.
        await page.click("#start-demo")
        accept = candidate_pane.locator('button[data-action="accept"]')
        await accept.wait_for(timeout=WAIT_MS)
        name = await page.locator("#candidate-select option:checked").inner_text()
        candidate = await Candidate.get(name=name)
        await hr_pane.locator(".msg.out").first.wait_for(timeout=WAIT_MS)
        await page.screenshot(path=ARTIFACTS / "playground-1-demo.png")

        # 2. The candidate accepts with the card's button.
        bot_messages = candidate_pane.locator(".msg.out")
        before = await bot_messages.count()
        await accept.click()

        async def accepted():
            offer = await Offer.filter(candidate_id=candidate.id).order_by("-id").first()
            return offer.status == "accepted"

        await wait_for(accepted, WAIT_MS / 1000)
        await page.wait_for_function(
            "n => document.querySelectorAll('#candidate-messages .msg.out').length > n",
            arg=before,
            timeout=WAIT_MS,
        )
        await page.screenshot(path=ARTIFACTS / "playground-2-accepted.png")

        # 3. A photo of the first document, uploaded from the page.
        await page.set_input_files(
            "#candidate-file",
            files=[{"name": "id-card.jpg", "mimeType": "image/jpeg", "buffer": photo()}],
        )
        await wait_for(lambda: Document.filter(candidate_id=candidate.id).exists(), WAIT_MS / 1000)
        await candidate_pane.get_by_text("1/4").first.wait_for(timeout=WAIT_MS)
        await page.screenshot(path=ARTIFACTS / "playground-3-upload.png")

        # 4. HR looks the candidate up; the group sees the phone masked.
        await page.fill("#hr-input", f"/history {name}")
        await page.press("#hr-input", "Enter")
        answer_row = await wait_for(
            lambda: Outbox.filter(
                recipient_id=f"chat:{HR_GROUP}",
                idempotency_key__startswith=f"reply:web:{PLAYGROUND_HR_ID}/",
                status="sent",
            ).first(),
            WAIT_MS / 1000,
        )
        answer = answer_row.payload["text"]
        masked = f"{candidate.phone[:3]}****{candidate.phone[-4:]}"
        assert name in answer and masked in answer and candidate.phone not in answer
        assert catalog.t("playground.demo.notes_round1") in answer  # interview history
        shown = hr_pane.locator(".msg.out", has_text=answer.splitlines()[0]).last
        await shown.wait_for(timeout=WAIT_MS)
        assert catalog.t("playground.demo.notes_round1") in await shown.inner_text()
        await page.screenshot(path=ARTIFACTS / "playground-4-history.png")

        # 5. Statistics come with a chart, fetched with the page's credentials.
        await page.fill("#hr-input", "/stats")
        await page.press("#hr-input", "Enter")
        chart = hr_pane.locator("img.chart").last
        await chart.wait_for()
        await page.wait_for_function(
            "() => [...document.querySelectorAll('#hr-messages img.chart')]"
            ".some(img => img.complete && img.naturalWidth > 0)"
        )
        await chart.scroll_into_view_if_needed()
        await page.screenshot(path=ARTIFACTS / "playground-5-stats.png")

        # Words are data, never markup.
        hostile = '<img src=x onerror="window.__pwned=1">'
        await page.fill("#candidate-input", hostile)
        await page.click("#candidate-send")
        await candidate_pane.get_by_text(hostile).first.wait_for(timeout=WAIT_MS)
        assert await page.evaluate("window.__pwned") is None

        # On a phone the panes stack.
        await page.set_viewport_size({"width": 390, "height": 844})
        first = await page.locator("#candidate-pane").bounding_box()
        second = await page.locator("#hr-pane").bounding_box()
        assert second["y"] >= first["y"] + first["height"]
        await page.screenshot(path=ARTIFACTS / "playground-6-phone.png", full_page=True)
    assert errors == []


@pytest.mark.timeout(300)
async def test_beside_a_real_platform_the_page_asks_for_the_api_token(
    make_runtime, settings_factory
):
    feishu = {
        "enabled": True,
        "app_id": "cli_test",
        "app_secret": "secret",
        "verification_token": "vtoken",
        "api_base_url": "http://127.0.0.1:9",  # never reached: nothing is sent to Feishu
    }
    settings = settings_factory(feishu=feishu, server={"host": "0.0.0.0"})
    rt = await make_runtime(settings)
    await Candidate.create(name="王小明", web_id="cand-1")
    async with running(rt) as web_server, chromium() as browser:
        page = await browser.new_page()
        page.set_default_timeout(WAIT_MS)
        await page.goto(str(web_server.make_url("/playground")))
        dialog = page.locator("#token-dialog")
        await dialog.wait_for(state="visible")
        await page.fill("#token-input", "not-the-token")
        await page.click("#token-form button[type=submit]")
        await page.locator("#token-error").wait_for(state="visible")  # asked again
        await page.fill("#token-input", API_TOKEN)
        await page.click("#token-form button[type=submit]")
        await dialog.wait_for(state="hidden")
        await page.locator("#candidate-select option", has_text="王小明").wait_for(state="attached")
        await page.locator('#connection[data-mode="live"]').wait_for()
        await page.screenshot(path=ARTIFACTS / "playground-7-token.png")


@pytest.mark.timeout(300)
async def test_buttons_follow_the_server_across_a_reload(server):
    """我有问题 leaves 接受 and 婉拒 usable; after accepting, the card shows the outcome and
    no buttons, and a reload shows the same (the server's state, not the page's). The
    click echoes the button's words, not its key."""
    errors: list[str] = []
    async with chromium() as browser:
        page = await browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(WAIT_MS)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
        await page.goto(str(server.make_url("/playground")))
        pane = page.locator("#candidate-messages")
        await page.click("#start-demo")
        card = pane.locator(".msg.card").filter(has=page.locator('button[data-action="accept"]'))
        await card.first.wait_for()
        name = await page.locator("#candidate-select option:checked").inner_text()
        candidate = await Candidate.get(name=name)

        await card.first.locator('button[data-action="question"]').click()
        await pane.get_by_text("请直接输入您的问题").first.wait_for()
        for key in ("accept", "decline"):
            assert await card.first.locator(f'button[data-action="{key}"]').is_enabled(), key

        await card.first.locator('button[data-action="accept"]').click()

        async def accepted():
            offer = await Offer.filter(candidate_id=candidate.id).order_by("-id").first()
            return offer.status == "accepted"

        await wait_for(accepted, WAIT_MS / 1000)
        await pane.get_by_text("✅ 已接受").first.wait_for()
        assert await pane.locator('button[data-action="accept"]').count() == 0

        await page.reload()
        await pane.get_by_text("✅ 已接受").first.wait_for()
        assert await pane.locator('button[data-action="accept"]').count() == 0
        await pane.get_by_text("点了「我有问题」").first.wait_for()
        assert await pane.get_by_text("点了「question」").count() == 0
    assert errors == []
