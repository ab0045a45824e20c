"""The Usage tab in a real browser (Debian's Chromium driven by Playwright), fully offline: charts drawn from
seeded usage.db rows have non-empty SVG paths (one per model, per route, and the cache line); a key created in
the form is shown once and works on /v1/messages; rotate and revoke act at once. Screenshot in
``test-artifacts/``."""

from __future__ import annotations

import re
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.harness import run_router
from tests.mocks.anthropic import MockAnthropic
from tests.server.test_admin_keys_usage import config_for, seed_usage
from tests.server.test_ui_browser import ARTIFACTS, CHROMIUM_ARGS, _chromium, _missing

try:
    from playwright.async_api import Route, async_playwright
except ImportError:  # checked in the test: skip, or fail under CCM_REQUIRE_E2E=1
    async_playwright = None  # type: ignore[assignment]

pytestmark = pytest.mark.e2e
PATH_D = re.compile(r"^M[\d.]+ [\d.]+")


async def test_usage_tab_charts_and_keys(tmp_path: Path) -> None:
    chromium = _chromium()
    if async_playwright is None:
        _missing("playwright is not installed (pip install playwright; no browser download is needed)")
    ARTIFACTS.mkdir(exist_ok=True)
    seed_usage(tmp_path, time.time())
    async with (
        MockAnthropic(name="up") as mock,
        run_router(config_for(mock.url), tmp_path) as router,
        async_playwright() as pw,
        httpx.AsyncClient(base_url=router.url) as http,
    ):
        browser = await pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        context = await browser.new_context(viewport={"width": 1360, "height": 1200})
        outside: list[str] = []

        async def offline(route: Route) -> None:
            if urlsplit(route.request.url).hostname == "127.0.0.1" or route.request.url.startswith("data:"):
                await route.continue_()
            else:
                outside.append(route.request.url)
                await route.abort()

        await context.route("**/*", offline)
        page = await context.new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("dialog", lambda d: d.accept())
        try:
            await page.goto(router.url + "/#usage")
            await page.wait_for_selector("#us-spend path[data-series]")
            spend = await page.eval_on_selector_all(
                "#us-spend path[data-series]", "ps => ps.map(p => [p.dataset.series, p.getAttribute('d')])"
            )
            assert {s for s, _ in spend} == {"claude-opus-4-1", "claude-sonnet-4-5"}  # the unpriced model: $0
            assert all(PATH_D.match(d) for _, d in spend), spend
            routes = await page.eval_on_selector_all(
                "#us-tokens path[data-series]", "ps => ps.map(p => p.dataset.series)"
            )
            assert set(routes) == {"default", "think", "background"}
            cache = await page.get_attribute("#us-cache path[data-series=cache]", "d")
            assert cache and cache.count("L") == 2  # a point per day (day 3: ratio 0, at the bottom)
            # Each path has a non-empty box on screen.
            for sel in ("#us-spend path", "#us-tokens path", "#us-cache path"):
                box = await page.locator(sel).first.bounding_box()
                assert box is not None and box["width"] > 0 and box["height"] > 0, sel
            legend = await page.text_content("#us-spend-legend") or ""
            assert "claude-opus-4-1" in legend
            assert "$0.130" in (await page.text_content("#us-summary") or "")

            # ---- Keys: create one (shown once), use it, rotate, revoke.
            await page.fill("#uk-name", "alice")
            await page.fill("#uk-models", "main")
            await page.fill("#uk-budget", "5/day")
            await page.click("#uk-create")
            await page.wait_for_selector("#uk-new:not([hidden])")
            key = (await page.text_content("#uk-new-key") or "").strip()
            assert key.startswith("ccm-")
            await page.wait_for_selector("#uk-list tr[data-key=alice]")
            row = await page.inner_text("#uk-list tr[data-key=alice]")
            assert "active" in row and "$5/day" in row and key not in row
            msg = {"model": "main", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}
            assert (await http.post("/v1/messages", json=msg, headers={"x-api-key": key})).status_code == 200
            await page.screenshot(path=str(ARTIFACTS / "ui-usage.png"), full_page=True)

            await page.click("#uk-list tr[data-key=alice] button.secondary")  # Rotate
            await page.wait_for_selector(f'#uk-new-key:not(:text-is("{key}"))')
            rotated = (await page.text_content("#uk-new-key") or "").strip()
            assert rotated.startswith("ccm-") and rotated != key
            assert (await http.post("/v1/messages", json=msg, headers={"x-api-key": key})).status_code == 401
            assert (await http.post("/v1/messages", json=msg, headers={"x-api-key": rotated})).status_code == 200

            await page.click("#uk-list tr[data-key=alice] button.danger")  # Revoke
            await page.wait_for_selector('#uk-list tr[data-key=alice] td:nth-child(3):text-is("revoked")')
            assert (await http.post("/v1/messages", json=msg, headers={"x-api-key": rotated})).status_code == 401
            assert not errors, errors
            assert not outside, outside
        finally:
            await browser.close()
