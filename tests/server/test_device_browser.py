"""The device page in a real browser (Debian's Chromium via Playwright): the three logins, each with its terms
notice shown before the start; a ChatGPT login that completes by itself when the browser comes back to the
loopback listener, and a Gemini CLI login completed by pasting the address the browser ended on.
"""

from __future__ import annotations

import contextlib
import socket
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from claude_code_mux.auth.chatgpt import NOTICE as CHATGPT_NOTICE
from claude_code_mux.auth.gemini_cli import BASE_URL_ENV, CODE_ASSIST_ENV
from claude_code_mux.auth.gemini_cli import NOTICE as GEMINI_NOTICE
from tests.harness import run_router
from tests.mocks.chatgpt_oauth import MockChatGPTAuth
from tests.mocks.gemini import MockGemini
from tests.server.test_logins import BASE, free_port
from tests.server.test_ui_browser import ARTIFACTS, CHROMIUM_ARGS, _chromium, _missing, async_playwright

with contextlib.suppress(ImportError):  # without playwright the test skips (or fails under CCM_REQUIRE_E2E=1)
    from playwright.async_api import Route

pytestmark = pytest.mark.e2e


async def test_device_page_offers_three_logins_with_their_notices(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    chromium = _chromium()
    if async_playwright is None:
        _missing("playwright is not installed (pip install playwright; no browser download is needed)")
    ARTIFACTS.mkdir(exist_ok=True)
    redirect = f"http://localhost:{free_port()}/auth/callback"
    async with MockChatGPTAuth(redirect_uris=[redirect]) as auth, MockGemini(name="g") as gem:
        monkeypatch.setenv(BASE_URL_ENV, gem.url)
        monkeypatch.setenv(CODE_ASSIST_ENV, gem.url)
        taken = socket.create_server(("127.0.0.1", 0))  # the Gemini login's only callback port is busy
        busy = taken.getsockname()[1]
        cfg = (
            f"[oauth]\ncallback_ports = [{busy}, {busy}]\n"
            + BASE
            + "[oauth.chatgpt]\n"
            + f'authorize_url = "{auth.url}/oauth/authorize"\ntoken_url = "{auth.url}/oauth/token"\n'
            + f'redirect_uri = "{redirect}"\n'
        )
        async with (
            run_router(cfg, tmp_path) as router,
            async_playwright() as pw,
            httpx.AsyncClient(timeout=20) as http,
        ):
            browser = await pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            context = await browser.new_context(viewport={"width": 1200, "height": 1000})
            outside: list[str] = []

            async def offline(route: Route) -> None:
                host = urlsplit(route.request.url).hostname
                if route.request.url.startswith("data:") or host in ("127.0.0.1", "localhost"):
                    await route.continue_()
                else:
                    outside.append(route.request.url)
                    await route.abort()

            await context.route("**/*", offline)
            page = await context.new_page()
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            try:
                await page.goto(router.url + "/auth/device")
                await page.wait_for_selector("#notice:not(:empty)")
                assert "terms" in (await page.text_content("#notice") or "")
                assert await page.text_content("#pid") == "claude-max"
                labels = await page.locator("#kinds label").all_inner_texts()
                assert [x.split(" ")[0] for x in labels] == ["Claude", "ChatGPT", "Gemini"]

                # ChatGPT: the notice before the start; the browser comes back to the loopback listener.
                await page.check("input[name=kind][value=chatgpt]")
                assert await page.text_content("#notice") == CHATGPT_NOTICE
                assert await page.text_content("#pid") == "chatgpt"
                await page.click("#start")
                link = page.locator("#link a")
                await link.wait_for()
                assert (await link.get_attribute("href") or "").startswith(auth.url + "/oauth/authorize?")
                await page.screenshot(path=str(ARTIFACTS / "device-chatgpt.png"), full_page=True)
                async with context.expect_page() as popup_info:
                    await link.click()
                popup = await popup_info.value
                await popup.wait_for_load_state()
                assert "Login complete" in await popup.inner_text("body")
                await popup.close()
                await page.wait_for_selector("#msg-ok:has-text('Logged in: chatgpt')", timeout=15000)
                await page.wait_for_selector("#status tr[data-provider=chatgpt]")

                # Gemini CLI: its notice and the optional project; no free callback port here, so Google's page
                # shows the code and the address it ended on is pasted.
                await page.check("input[name=kind][value=gemini]")
                assert await page.text_content("#notice") == GEMINI_NOTICE
                assert await page.is_visible("#project")
                await page.click("#start")
                await page.wait_for_selector("#link a[href*='/o/oauth2/v2/auth']", timeout=10000)
                url = await page.get_attribute("#link a", "href") or ""
                assert "codeassist.google.com" in url and "paste" in (await page.text_content("#msg-ok") or "")
                landed = (await http.get(url, follow_redirects=False)).headers["location"]
                await page.fill("#code", landed)
                await page.click("#submit button")
                await page.wait_for_selector("#msg-ok:has-text('Logged in: gemini')", timeout=15000)
                row = page.locator("#status tr[data-provider=gemini]")
                await row.wait_for()
                assert f"gemini-cli (project {gem.code_assist_project})" in await row.inner_text()
                await page.screenshot(path=str(ARTIFACTS / "device-logins.png"), full_page=True)

                # The admin UI's OAuth tab offers the same logins, the notice first, and the Codex import.
                await page.goto(router.url + "/#oauth")
                await page.wait_for_selector("#oa-notice:not(:empty)")
                assert not await page.is_visible("#oa-import-codex")
                await page.select_option("#oa-type", "chatgpt")
                assert await page.text_content("#oa-notice") == CHATGPT_NOTICE
                assert await page.input_value("#oa-provider") == "chatgpt"
                assert await page.is_visible("#oa-import-codex")
                await page.select_option("#oa-type", "gemini")
                assert await page.text_content("#oa-notice") == GEMINI_NOTICE
                assert await page.input_value("#oa-provider") == "gemini"
                await page.wait_for_selector("#oa-tokens tr[data-provider=gemini]")
            finally:
                await browser.close()
                taken.close()
            assert not outside, outside
            assert not [e for e in errors if "Failed to load resource" not in e], errors
