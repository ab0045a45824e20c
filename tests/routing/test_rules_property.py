"""Property tests: decide() is deterministic, never mutates its input, and edits only what is documented."""

from __future__ import annotations

import copy
import re
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from claude_code_mux.errors import InvalidRequest
from claude_code_mux.routing.inspect import TAG_RE
from claude_code_mux.routing.rules import decide
from tests.routing.conftest import ALL_TARGETS, MAIN_TURN2, fixture, make_cfg

RULES = """
[[router.rules]]
pattern = '^/fast\\b'
model = "fast"
strip_match = true

[[router.rules]]
pattern = '@(\\w+)'
model = "$1"
strip_match = true
"""
ROUTERS = [
    ALL_TARGETS + "long_context_threshold = 400",
    ALL_TARGETS + 'order = ["prompt_rules", "subagent", "explicit", "default"]',
    ALL_TARGETS + 'disabled = ["subagent", "websearch"]',
    'auto_map = false\nthink_types = ["enabled", "adaptive"]',
]
NAMES = ["fast", "deep", "nope", "claude-haiku-4-5", "or,vendor/x", ""]

words = st.sampled_from(
    [
        "hello",
        "/fast",
        "@deep",
        "@nope",
        " ",
        "\n",
        "refactor",
        "é",
        "<system-reminder>",
        "</system-reminder>",
    ]
)
tag = st.sampled_from(NAMES).map(lambda n: f"<CCM-SUBAGENT-MODEL>{n}</CCM-SUBAGENT-MODEL>")
reminder = st.text(min_size=0, max_size=8).map(lambda t: f"<system-reminder>{t}/fast</system-reminder>\n")
text = st.lists(st.one_of(words, tag, reminder, st.text(max_size=6)), max_size=8).map("".join)
image = st.just({"type": "image", "source": {"type": "url", "url": "https://example.invalid/x.png"}})
text_block = text.map(lambda t: {"type": "text", "text": t})
tool_result = st.lists(st.one_of(text_block, image), max_size=2).map(
    lambda c: {"type": "tool_result", "tool_use_id": "t1", "content": c}
)
user_content = st.one_of(text, st.lists(st.one_of(text_block, image, tool_result), min_size=1, max_size=4))
assistant_content = st.one_of(
    text,
    st.lists(
        st.one_of(text_block, st.just({"type": "thinking", "thinking": "hm", "signature": "sig"})),
        min_size=1,
        max_size=3,
    ),
)


@st.composite
def bodies(draw: st.DrawFn) -> dict[str, Any]:
    body = fixture(MAIN_TURN2)
    body["tools"] = body["tools"][:4]  # the real shape, smaller: each example deep-copies the body
    body["model"] = draw(st.sampled_from(["claude-opus-4-8", "claude-haiku-4-5", "main-x", "or,vendor/y", ""]))
    body["system"] = draw(
        st.one_of(text, st.lists(text_block.map(lambda b: b | {"cache_control": {"type": "ephemeral"}}), max_size=3))
    )
    n = draw(st.integers(min_value=1, max_value=5))
    messages: list[dict[str, Any]] = []
    for i in range(n):
        role = "user" if i % 2 == 0 else draw(st.sampled_from(["assistant", "system"]))
        content = draw(user_content if role == "user" else assistant_content if role == "assistant" else text)
        messages.append({"role": role, "content": content})
    body["messages"] = messages
    if draw(st.booleans()):
        body["tools"] = [*body["tools"], {"type": "web_search_20250305", "name": "web_search"}]
    body["thinking"] = draw(
        st.sampled_from([{"type": "adaptive"}, {"type": "enabled", "budget_tokens": 1024}, {"type": "disabled"}])
    )
    return body


def _is_subsequence(small: str, big: str) -> bool:
    it = iter(big)
    return all(c in it for c in small)


def _texts(content: Any) -> list[str]:
    if isinstance(content, str):
        return [content]
    return [b["text"] for b in content if isinstance(b, dict) and b.get("type") == "text"]


def _check_documented_edits(orig: dict[str, Any], edited: dict[str, Any]) -> None:
    # Top level: same keys (``system`` may go when it held only tags); untouched values are the same objects.
    assert set(edited) <= set(orig) and set(orig) - set(edited) <= {"system"}
    for key, value in edited.items():
        if key not in ("system", "messages"):
            assert value is orig[key]
    if "system" in edited and edited["system"] is not orig["system"]:
        # Only tag removal edits the system prompt.
        for new in _texts(edited["system"]):
            assert "<CCM-SUBAGENT-MODEL>" not in new or not TAG_RE.search(new)
        assert TAG_RE.search(str(orig["system"]))
    assert len(edited["messages"]) == len(orig["messages"])
    for old_msg, new_msg in zip(orig["messages"], edited["messages"], strict=True):
        if new_msg is old_msg:
            continue
        assert old_msg["role"] == new_msg["role"] == "user"
        assert set(new_msg) == set(old_msg)
        old_c, new_c = old_msg["content"], new_msg["content"]
        if isinstance(old_c, list):
            # Non-text blocks are kept, as the same objects and in order; text only loses characters.
            assert [b for b in new_c if b.get("type") != "text"] == [b for b in old_c if b.get("type") != "text"]
            for b in new_c:
                if b.get("type") != "text":
                    assert any(b is ob for ob in old_c)
        old_text = "".join(_texts(old_c))
        if isinstance(new_c, str):
            changed = [new_c]
        else:
            changed = _texts([b for b in new_c if not any(b is ob for ob in old_c)])
        for new_text in changed:
            assert new_text.strip(), "an edit emptied a text block"
            assert _is_subsequence(new_text, old_text) or new_text == "."


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=bodies(), router=st.sampled_from(ROUTERS), provider=st.sampled_from([None, "or", "anthropic"]))
def test_decide_is_pure_deterministic_and_edits_only_what_is_documented(
    body: dict[str, Any], router: str, provider: str | None
) -> None:
    cfg = make_cfg(router, RULES)
    headers = {"x-provider": provider} if provider else {}
    snapshot = copy.deepcopy(body)
    try:
        first = decide(body, headers, cfg)
    except InvalidRequest as exc:
        assert body == snapshot
        assert exc.status == 400
        with_error = re.compile("CCM-SUBAGENT-MODEL|conflicts")
        assert with_error.search(exc.message)
        event("rejected")
        return
    assert body == snapshot, "decide() mutated its input"
    second = decide(copy.deepcopy(body), dict(headers), cfg)
    assert first == second
    assert first.label.isascii() and "\n" not in first.label and "\r" not in first.label
    event(f"rule={first.rule} edited={first.edited_body is not None}")
    if first.edited_body is not None:
        _check_documented_edits(body, first.edited_body)
        assert first.edited_body != body
