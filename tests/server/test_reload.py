"""Hot reload through the file watcher: valid edits apply without a restart, invalid ones are rejected with
file:line:key and the old config keeps serving, and a reload never breaks a stream in flight."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import anthropic
import httpx

from tests.harness import RouterHandle, anthropic_provider, model_block, run_router
from tests.mocks.anthropic import Fault, MockAnthropic

REQ = {
    "model": "main",
    "max_tokens": 20,
    "messages": [{"role": "user", "content": "Reply with exactly: one two three"}],
}


def cfg(url: str, actual: str, router_extra: str = "") -> str:
    return (
        "# reload test\n"
        f'[router]\ndefault = "main"\n{router_extra}'
        + anthropic_provider("up", url)
        + model_block("main", [("up", actual)])
    )


async def until(cond: Callable[[], bool], limit_s: float = 5.0) -> None:
    deadline = time.monotonic() + limit_s
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


async def rewrite(router: RouterHandle, text: str) -> None:
    # The watcher takes its first look when its task first runs: give it that chance before editing.
    await asyncio.sleep(0.05)
    # A different size as well as a new mtime, so the watcher sees the change whatever the clock granularity.
    router.config_path.write_text(text + f"# edited {time.time()}\n")


async def test_valid_edit_applies_without_restart(tmp_path: Path) -> None:
    async with (
        MockAnthropic(name="up") as mock,
        run_router(cfg(mock.url, "old-model"), tmp_path, watch=True) as router,
    ):
        async with httpx.AsyncClient(base_url=router.url) as http:
            assert (await http.post("/v1/messages", json=REQ)).headers["x-ccm-model"] == "old-model"
            await rewrite(router, cfg(mock.url, "new-model"))
            await until(lambda: "config reloaded (file changed)" in router.log_text())
            r = await http.post("/v1/messages", json=REQ)
            assert r.status_code == 200 and r.headers["x-ccm-model"] == "new-model"
        assert [q.json["model"] for q in mock.messages_requests()] == ["old-model", "new-model"]


async def test_invalid_edit_is_rejected_and_old_config_serves(tmp_path: Path) -> None:
    async with (
        MockAnthropic(name="up") as mock,
        run_router(cfg(mock.url, "old-model"), tmp_path, watch=True) as router,
    ):
        bad = cfg(mock.url, "new-model", router_extra='defualt_think = "x"\n')
        await rewrite(router, bad)
        await until(lambda: "config reload rejected" in router.log_text())
        line = next(i for i, s in enumerate(bad.splitlines(), 1) if s.startswith("defualt_think"))
        log = router.log_text()
        assert f"{router.config_path}:{line}: router.defualt_think: unknown key" in log
        async with httpx.AsyncClient(base_url=router.url) as http:
            r = await http.post("/v1/messages", json=REQ)
            assert r.status_code == 200 and r.headers["x-ccm-model"] == "old-model"
            # Through the admin API the same file is reported, and the old config is what runs.
            state = (await http.get("/api/config")).json()
            assert "router.defualt_think" in state["file_error"]
            assert state["config"]["models"][0]["mappings"][0]["actual_model"] == "old-model"
            # Fixing the file applies it.
            await rewrite(router, cfg(mock.url, "fixed-model"))
            await until(lambda: "config reloaded (file changed)" in router.log_text())
            assert (await http.post("/v1/messages", json=REQ)).headers["x-ccm-model"] == "fixed-model"


async def test_reload_mid_stream_does_not_break_the_stream(tmp_path: Path) -> None:
    async with MockAnthropic(name="up", chunks=6) as mock:
        mock.add_fault(Fault("stall_mid", seconds=1.0, path="/v1/messages", stream=True))
        async with (
            run_router(cfg(mock.url, "old-model"), tmp_path, watch=True) as router,
            anthropic.AsyncAnthropic(base_url=router.url, api_key="c", max_retries=0) as client,
        ):
            texts: list[str] = []
            async with client.messages.stream(**REQ) as stream:  # type: ignore[arg-type]
                async for ev in stream:
                    if ev.type == "text" and not texts:
                        # The first delta arrived; the mock now stalls for 1 s. Change the config meanwhile.
                        await rewrite(router, cfg(mock.url, "new-model"))
                        await until(lambda: "config reloaded (file changed)" in router.log_text())
                    if ev.type == "text":
                        texts.append(ev.text)
                final = await stream.get_final_message()
            assert "".join(texts) == "one two three"
            assert final.stop_reason == "end_turn" and final.content[0].type == "text"
            msg = await client.messages.create(**REQ)  # type: ignore[arg-type]
            assert msg.content[0].type == "text" and msg.content[0].text == "one two three"
        assert [q.json["model"] for q in mock.messages_requests()] == ["old-model", "new-model"]
        assert not mock.messages_requests()[0].disconnected
