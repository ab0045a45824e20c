"""The UI overview's account bars in a real browser: each pooled account's windows as bars, filled to the
utilization the router knows, with a reset countdown that ticks."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.accounts.test_pool_scenario import config, seed_logins
from tests.harness import run_router
from tests.mocks.anthropic import MockAnthropic
from tests.server.test_ui_browser import ARTIFACTS, CHROMIUM_ARGS, _chromium, _missing

try:
    from playwright.async_api import async_playwright
except ImportError:
    async_playwright = None  # type: ignore[assignment]

pytestmark = pytest.mark.e2e


async def test_overview_draws_account_windows_with_countdowns(tmp_path: Path) -> None:
    if async_playwright is None:
        _missing("playwright is not installed (pip install -e '.[test]')")
    chromium = _chromium()
    async with MockAnthropic(name="sub") as sub, MockAnthropic(name="paid") as paid:
        work = sub.quotas.add("tok-max-work")
        sub.quotas.add("tok-max-home")
        work.util["5h"] = 0.42
        work.util["7d"] = 0.93
        await seed_logins(tmp_path)
        text = config(sub.url, paid.url).replace("hard_limit = 0.9\n", "hard_limit = 0.95\npoll_usage_s = 0.2\n")
        async with run_router(text, tmp_path) as router, async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            try:
                page = await browser.new_page(viewport={"width": 1360, "height": 1000})
                errors: list[str] = []
                page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
                # Wait for the poller's first readings, then load the page.
                for _ in range(100):
                    got = await page.request.get(router.url + "/api/accounts")
                    rows = (await got.json())["accounts"]
                    if all(r["windows"] for r in rows):
                        break
                    await page.wait_for_timeout(100)
                await page.goto(router.url + "/#overview")
                card = page.locator("#accounts-card")
                await card.wait_for(state="visible", timeout=10_000)
                five = card.locator('[data-account="max-work"] [data-window="5h"]')
                assert await five.locator(".pct").inner_text() == "42 %"
                width = await five.locator(".fill").evaluate("e => e.style.width")
                assert width == "42%"
                seven = card.locator('[data-account="max-work"] [data-window="7d"]')
                assert "bad" in (await seven.locator(".fill").get_attribute("class") or "")  # 93 %: red
                assert "soft" in await card.locator('[data-account="max-work"] .pill').inner_text()
                first = await five.locator(".countdown").inner_text()
                assert re.fullmatch(r"resets in \d+h \d+m", first), first
                seven_cd = await seven.locator(".countdown").inner_text()
                assert re.fullmatch(r"resets in \d+d \d+h", seven_cd), seven_cd
                ARTIFACTS.mkdir(exist_ok=True)
                await card.screenshot(path=str(ARTIFACTS / "ui-accounts.png"))
                assert not errors, errors
            finally:
                await browser.close()
