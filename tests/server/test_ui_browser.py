"""The admin UI in a real browser (Debian's Chromium driven by Playwright), fully offline.

Adds an OpenAI-dialect provider and a model mapping through the forms, checks the file on disk changed with
its comments intact, sends a test message that the new mapping serves without a restart, and watches a
request made by the ``anthropic`` SDK appear in the live list. Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anthropic
import httpx
import orjson
import pytest

from tests.harness import anthropic_provider, model_block, run_router
from tests.mocks.anthropic import Fault, MockAnthropic
from tests.mocks.oauth import MockOAuthServer
from tests.mocks.openai import MockOpenAI

try:
    from playwright.async_api import Route, async_playwright
except ImportError:  # checked in the test: skip, or fail under CCM_REQUIRE_E2E=1
    async_playwright = None  # type: ignore[assignment]

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
OAI_KEY = "sk-oai-" + "mock-key-4711"


def _missing(msg: str) -> None:
    if os.environ.get("CCM_REQUIRE_E2E") == "1":
        pytest.fail(msg)
    pytest.skip(msg)


def _chromium() -> str:
    path = os.environ.get("CHROMIUM_BIN") or "/usr/bin/chromium"
    if not os.access(path, os.X_OK):
        _missing(f"Chromium not found at {path} (apt-get install chromium, or set CHROMIUM_BIN)")
    return path


def config_text(anthropic_url: str) -> str:
    return (
        "# claude-code-mux config for the browser test\n"
        "# (comments like this one must survive edits made in the UI)\n\n"
        "[router]\n"
        'default = "main"  # everything goes here unless a rule says otherwise\n'
        "auto_map = true\n\n"
        "# the Anthropic-compatible mock\n"
        + anthropic_provider("up", anthropic_url)
        + "\n# models\n"
        + model_block("main", [("up", "upstream-main")])
    )


async def test_ui_add_provider_and_mapping_then_test_and_watch_live(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    chromium = _chromium()
    if async_playwright is None:
        _missing("playwright is not installed (pip install playwright; no browser download is needed)")
    ARTIFACTS.mkdir(exist_ok=True)

    async with MockOAuthServer() as oauth_mock:
        monkeypatch.setenv("CCM_OAUTH_BASE_URL", oauth_mock.url)
        await _run(tmp_path, chromium)


async def _run(tmp_path: Path, chromium: str) -> None:
    async with (
        MockAnthropic(name="up") as amock,
        MockOpenAI(name="oai", require_key=OAI_KEY) as omock,
        run_router(config_text(amock.url), tmp_path / "home") as router,
        async_playwright() as pw,
        httpx.AsyncClient() as http,
    ):
        original = router.config_path.read_text()
        browser = await pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        context = await browser.new_context(viewport={"width": 1360, "height": 1000})
        outside: list[str] = []

        async def offline(route: Route) -> None:
            host = urlsplit(route.request.url).hostname
            if route.request.url.startswith("data:") or host == "127.0.0.1":
                await route.continue_()
            else:
                outside.append(route.request.url)
                await route.abort()

        await context.route("**/*", offline)
        page = await context.new_page()
        console_errors: list[str] = []
        page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
        page.on("dialog", lambda d: d.accept())
        try:
            await page.goto(router.url + "/")
            await page.wait_for_selector("#routing-body tr")
            await page.wait_for_selector("#conn.good")  # the live feed is connected

            # ---- Providers: an error is shown in place, then a valid OpenAI-dialect provider.
            await page.click("button[data-tab=providers]")
            await page.select_option("#pf-preset", "openai-compatible")
            await page.fill("#pf-name", "oai")
            await page.fill("#pf-base-url", "ftp://not-http")
            await page.fill("#pf-key", OAI_KEY)
            await page.click("#pf-save")
            await page.wait_for_selector("#pf-error:not([hidden])")
            assert "base_url" in (await page.text_content("#pf-error") or "")
            await page.fill("#pf-base-url", omock.url + "/v1")
            await page.click("#pf-save")
            await page.wait_for_selector("#pf-ok:not([hidden])")
            row = page.locator("#provider-list tr[data-provider=oai]")
            assert "********" in await row.inner_text() and OAI_KEY not in await page.content()
            await page.screenshot(path=str(ARTIFACTS / "ui-providers.png"), full_page=True)

            # ---- Models: a new model mapped to the new provider.
            await page.click("button[data-tab=models]")
            await page.fill("#mf-name", "gpt-route")
            mapping = page.locator("#mf-mappings tr").first
            await mapping.locator(".mp-provider").select_option("oai")
            await mapping.locator(".mp-model").fill("gpt-4o-mini")
            await page.click("#mf-save")
            await page.wait_for_selector("#mf-ok:not([hidden])")
            assert "oai / gpt-4o-mini" in await page.locator("#model-list tr[data-model=gpt-route]").inner_text()

            # ---- The file changed on disk, comments intact.
            text = router.config_path.read_text()
            for line in original.splitlines():
                if line.lstrip().startswith("#") or "#" in line:
                    assert line in text, line
            assert 'name = "oai"' in text and 'actual_model = "gpt-4o-mini"' in text
            assert f'api_key = "{OAI_KEY}"' in text

            # ---- Test console: the new mapping serves at once, streamed, no restart.
            await page.click("button[data-tab=test]")
            await page.fill("#tc-model", "gpt-route")
            await page.fill("#tc-message", "Reply with exactly: pong from the browser")
            await page.click("#tc-send")
            await page.wait_for_selector("#tc-meta dd[data-field=provider]")
            assert await page.text_content("#tc-output") == "pong from the browser"
            assert await page.text_content("#tc-meta dd[data-field=provider]") == "oai"
            assert await page.text_content("#tc-meta dd[data-field=upstream-model]") == "gpt-4o-mini"
            assert "oai" in await page.locator("#tc-attempts").inner_text()
            await page.screenshot(path=str(ARTIFACTS / "ui-test-console.png"), full_page=True)
            sent: list[Any] = [r.json for r in omock.requests if r.json]
            assert sent and sent[-1]["model"] == "gpt-4o-mini"

            # ---- Overview: a request from the anthropic SDK shows up in the live list.
            await page.click("button[data-tab=overview]")
            async with anthropic.AsyncAnthropic(base_url=router.url, api_key="client-key") as client:
                await client.messages.create(
                    model="claude-sonnet-4-5",
                    max_tokens=20,
                    messages=[{"role": "user", "content": "Reply with exactly: from the SDK"}],
                )
            live = page.locator("#recent-body tr", has_text="claude-sonnet-4-5")
            await live.first.wait_for()
            assert "up → upstream-main" in await live.first.inner_text()
            await page.wait_for_selector("#health-body tr[data-provider=oai]")
            await page.screenshot(path=str(ARTIFACTS / "ui-overview.png"), full_page=True)

            # ---- OAuth against the mock OAuth server: Log in -> link -> paste code#state -> token listed.
            await page.click("button[data-tab=oauth]")
            await page.fill("#oa-provider", "claude-max")
            await page.click("#oa-login")
            await page.wait_for_selector("#oa-step2:not([hidden])")
            url = await page.get_attribute("#oa-url", "href")
            assert url and url.startswith(os.environ["CCM_OAUTH_BASE_URL"])
            # What the user does in another tab: approve, then copy the code the hosted page shows.
            shown = await http.get(url, headers={"accept": "application/json"}, follow_redirects=True)
            await page.fill("#oa-code", shown.json()["code"])
            await page.click("#oa-submit")
            await page.wait_for_selector("#oa-ok:not([hidden])")
            token_row = page.locator("#oa-tokens tr[data-provider=claude-max]")
            await token_row.wait_for()
            assert "valid" in await token_row.inner_text()
            await token_row.locator("button", has_text="Refresh").click()
            await page.wait_for_selector("#oa-ok:has-text('Refreshed')")
            await page.screenshot(path=str(ARTIFACTS / "ui-oauth.png"), full_page=True)
            stored = orjson.loads((router.config_path.parent / "oauth_tokens.json").read_bytes())["claude-max"]
            for path in ("/api/status", "/api/oauth/tokens"):
                body = (await http.get(router.url + path)).text
                assert stored["access_token"] not in body and stored["refresh_token"] not in body
            assert stored["refresh_token"] not in await page.content()

            # ---- Nothing lives only in the page: a reload shows the file's state.
            await page.reload()
            await page.click("button[data-tab=providers]")
            await page.wait_for_selector("#provider-list tr[data-provider=oai]")
        finally:
            await context.close()
            await browser.close()
        assert outside == [], f"the UI tried to reach the network: {outside}"
        assert not [e for e in console_errors if "404" not in e and "Failed to load resource" not in e]


async def test_ui_key_change_console_failure_and_device_page(tmp_path: Path) -> None:
    """Issue 14 item 17 in the browser: changing the admin key does not double the live rows (one feed, the old
    one aborted); a failed test request shows every attempt and the first candidate's real cause; the device
    page is styled like the UI and never shows a raw ``[]``."""
    chromium = _chromium()
    if async_playwright is None:
        _missing("playwright is not installed (pip install playwright; no browser download is needed)")
    ARTIFACTS.mkdir(exist_ok=True)
    async with (
        MockAnthropic(name="up") as amock,
        MockAnthropic(name="second") as second,
        run_router(
            config_text(amock.url)
            + anthropic_provider("second", second.url)
            + model_block("pair", [("up", "first-model"), ("second", "second-model")]),
            tmp_path / "home",
        ) as router,
        async_playwright() as pw,
    ):
        holder = router.server.holder
        assert holder is not None
        browser = await pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = await browser.new_page(viewport={"width": 1360, "height": 1000})
        console_errors: list[str] = []
        page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
        try:
            await page.goto(router.url + "/")
            await page.wait_for_selector("#conn.good")
            # A new admin key reconnects the feed: the old connection is aborted, not left running beside it.
            await page.fill("#admin-key", "some-key")
            await page.dispatch_event("#admin-key", "change")
            await page.wait_for_function("document.querySelector('#conn').className.includes('good')")
            for _ in range(50):
                if holder.observers.subscriber_count == 1:
                    break
                await page.wait_for_timeout(100)
            async with anthropic.AsyncAnthropic(base_url=router.url, api_key="client-key") as client:
                await client.messages.create(
                    model="claude-once-only-4", max_tokens=20, messages=[{"role": "user", "content": "Reply: x"}]
                )
            rows = page.locator("#recent-body tr", has_text="claude-once-only-4")
            await rows.first.wait_for()
            await page.wait_for_timeout(500)  # a second feed would have delivered its copy by now
            assert await rows.count() == 1
            assert holder.observers.subscriber_count == 1

            # A failed test request: both attempts, each with its cause, and the first candidate named.
            amock.add_fault(Fault(kind="status", status=529, times=1))
            second.add_fault(Fault(kind="status", status=400, times=1))
            await page.click("button[data-tab=test]")
            await page.fill("#tc-model", "pair")
            await page.click("#tc-send")
            await page.wait_for_selector("#tc-error:not([hidden])")
            await page.wait_for_selector("#tc-attempts tr:nth-child(2)")
            attempts = await page.locator("#tc-attempts tr").all_inner_texts()
            assert "up" in attempts[0] and "529" in attempts[0]
            assert "second" in attempts[1] and "400" in attempts[1]
            error = await page.text_content("#tc-error") or ""
            assert "up/first-model" in error and "second/second-model" in error, error
            await page.screenshot(path=str(ARTIFACTS / "ui-test-console-failure.png"), full_page=True)

            # The device page: the UI's stylesheet, and an empty login list said in words.
            await page.goto(router.url + "/auth/device?provider=claude-max")
            await page.wait_for_selector("#status tr")
            assert await page.locator("link[rel=stylesheet][href='/ui/app.css']").count() == 1
            assert await page.text_content("#pid") == "claude-max"
            text = await page.inner_text("body")
            assert "[]" not in text and "no logins yet" in text
            await page.screenshot(path=str(ARTIFACTS / "ui-device.png"), full_page=True)
        finally:
            await browser.close()
        assert not [e for e in console_errors if "404" not in e and "Failed to load resource" not in e]
