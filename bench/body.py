"""A Claude-Code-shaped request body, generated deterministically (or loaded from a recorded fixture).

The synthetic body is ~43 KB: a 5 KB system prompt in two cached blocks, 15 tools with JSON schemas and
21 messages (a user prompt, then ten assistant ``tool_use`` / user ``tool_result`` rounds). Every request
gets a distinct ``metadata.user_id`` suffix so nothing on the way can serve it from a cache.

Larger bodies (``kb=250``, ``kb=1000``) grow the way a long Claude Code session grows: the history gains
``Read`` tool calls whose results are numbered source files (``cat -n`` style, with quotes, backslashes and
tabs that JSON must escape), up to 40 KB each, inserted before the last turn; the recorded fixtures in
``tests/fixtures/`` show the shape (tool results are plain strings, thinking blocks carry signatures).
``deltas=N`` puts the mock's in-band ``[[mock:chunks=N]]`` switch into the last user message: it survives
the router and the OpenAI translation, so one mock serves short and long answers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

MODEL = "claude-sonnet-4-5-20250929"
_SEQ = "@@SEQ@@"
_VOCAB = (  # noqa: SIM905
    "the file function test error value config router stream token request response model tool "
    "result message content block index delta usage cache system user assistant project module "
    "import return class async await python build check lint format commit branch path line"
).split()

_TOOLS = (
    ("Task", ("description", "prompt", "subagent_type")),
    ("Bash", ("command", "timeout", "description", "run_in_background")),
    ("Glob", ("pattern", "path")),
    ("Grep", ("pattern", "path", "glob", "output_mode", "head_limit")),
    ("ExitPlanMode", ("plan",)),
    ("Read", ("file_path", "offset", "limit")),
    ("Edit", ("file_path", "old_string", "new_string", "replace_all")),
    ("MultiEdit", ("file_path", "edits")),
    ("Write", ("file_path", "content")),
    ("NotebookEdit", ("notebook_path", "cell_id", "new_source", "cell_type", "edit_mode")),
    ("WebFetch", ("url", "prompt")),
    ("TodoWrite", ("todos",)),
    ("WebSearch", ("query", "allowed_domains", "blocked_domains")),
    ("BashOutput", ("bash_id", "filter")),
    ("KillShell", ("shell_id",)),
)


def words(n_chars: int, seed: int) -> str:
    """Deterministic filler text of about ``n_chars`` characters."""
    out: list[str] = []
    size = 0
    i = seed
    while size < n_chars:
        w = _VOCAB[(i * 7 + seed * 13) % len(_VOCAB)]
        out.append(w)
        size += len(w) + 1
        i += 1
    return " ".join(out)[:n_chars]


def _tool(name: str, params: tuple[str, ...], k: int) -> dict[str, Any]:
    props = {p: {"type": "string", "description": words(90, k * 10 + j)} for j, p in enumerate(params)}
    return {
        "name": name,
        "description": words(700, k),
        "input_schema": {
            "type": "object",
            "properties": props,
            "required": list(params[:1]),
            "additionalProperties": False,
            "$schema": "http://json-schema.org/draft-07/schema#",
        },
    }


def _messages(msg_chars: int) -> list[dict[str, Any]]:
    first = [
        {"type": "text", "text": "<system-reminder>\n" + words(900, 3) + "\n</system-reminder>"},
        {"type": "text", "text": "Please fix the failing test in the router and run the suite again."},
    ]
    msgs: list[dict[str, Any]] = [{"role": "user", "content": first}]
    for r in range(10):
        tid = f"toolu_bench{r:016d}"
        msgs.append(
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": words(160, 100 + r)},
                    {
                        "type": "tool_use",
                        "id": tid,
                        "name": "Bash",
                        "input": {"command": f"pytest -q -k case{r}"},
                    },
                ],
            }
        )
        msgs.append(
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": tid, "content": words(msg_chars, 200 + r)}],
            }
        )
    return msgs


def source_file(k: int, chars: int) -> str:
    """A deterministic numbered source file of about ``chars`` characters (what the Read tool returns)."""
    lines: list[str] = []
    total = 0
    i = 0
    while total < chars:
        i += 1
        shape = i % 6
        if shape == 0:
            code = f"def handler_{k}_{i}(request, ctx):  # " + words(36, i + k)
        elif shape == 1:
            code = f'    path = "/repo/src/pkg_{k}/mod_{i}.py"  # ' + words(28, i)
        elif shape == 2:
            code = f"    if ctx.get('retry_{i}') and not request.closed:"
        elif shape == 3:
            code = f'        raise ValueError("bad value for field_{i}: \\d+ expected")'
        elif shape == 4:
            code = f"    total_{i} = sum(x * {i} for x in ctx.values())  # " + words(24, i * 3)
        else:
            code = f"    return {{'id': {i}, 'name': \"item-{k}-{i}\", 'ok': True}}"
        line = f"{i:>6}\t{code}"
        lines.append(line)
        total += len(line) + 1
    return "\n".join(lines)[:chars]


def _grow(msgs: list[dict[str, Any]], need: int) -> None:
    """Insert Read tool_use / tool_result pairs before the last round until they add about ``need`` bytes."""
    pairs: list[dict[str, Any]] = []
    k = 0
    while need > 200:
        k += 1
        tid = f"toolu_01Grow{k:012d}"
        use = {
            "role": "assistant",
            "content": [
                {"type": "text", "text": f"Let me read module {k}."},
                {"type": "tool_use", "id": tid, "name": "Read", "input": {"file_path": f"/repo/src/m{k}.py"}},
            ],
        }
        res: dict[str, Any] = {
            "role": "user",
            "content": [{"tool_use_id": tid, "type": "tool_result", "content": ""}],
        }
        overhead = len(orjson.dumps(use)) + len(orjson.dumps(res)) + 2
        content = source_file(k, min(40_000, need - overhead))
        escaped = len(orjson.dumps(content)) - 2
        if escaped > need - overhead:  # JSON escapes make the string longer than its characters
            content = content[: max(1, len(content) - (escaped - (need - overhead)))]
        res["content"][0]["content"] = content
        pairs += [use, res]
        need -= overhead + len(orjson.dumps(content)) - 2
    msgs[len(msgs) - 2 : len(msgs) - 2] = pairs  # before the last tool round, keeping turns paired


def synthetic(
    model: str = MODEL, stream: bool = True, msg_chars: int = 1350, kb: float = 0, deltas: int = 0
) -> dict[str, Any]:
    """The Claude-Code-shaped body; ``kb`` grows it to about that many kilobytes (1 KB = 1000 bytes)."""
    doc = _base(model, stream, msg_chars)
    if deltas:
        doc["messages"][-1]["content"].append({"type": "text", "text": f"[[mock:chunks={deltas}]]"})
    if kb:
        _grow(doc["messages"], int(kb * 1000) - len(orjson.dumps(doc)))
    return doc


def _base(model: str, stream: bool, msg_chars: int) -> dict[str, Any]:
    return {
        "model": model,
        "max_tokens": 32000,
        "system": [
            {
                "type": "text",
                "text": "You are Claude Code, Anthropic's official CLI for Claude.",
                "cache_control": {"type": "ephemeral"},
            },
            {"type": "text", "text": words(5000, 1), "cache_control": {"type": "ephemeral"}},
        ],
        "tools": [_tool(name, params, k) for k, (name, params) in enumerate(_TOOLS)],
        "messages": _messages(msg_chars),
        "metadata": {"user_id": "user_bench_account__session_" + _SEQ},
        "temperature": 1,
        "stream": stream,
    }


class Body:
    """Encoded request bodies; ``next()`` returns a fresh one (distinct ``metadata.user_id``) each call."""

    __slots__ = ("_post", "_pre", "_seq", "size")

    def __init__(self, doc: dict[str, Any]) -> None:
        raw = orjson.dumps(doc)
        self._pre, _, self._post = raw.partition(_SEQ.encode())
        self._seq = 0
        self.size = len(raw) - (len(_SEQ) - 10 if self._post else 0)

    def next(self) -> bytes:
        if not self._post:
            return self._pre
        self._seq += 1
        return self._pre + b"%010d" % self._seq + self._post


def make_body(model: str, stream: bool, path: Path | None = None, kb: float = 0, deltas: int = 0) -> Body:
    """The synthetic body, or a recorded one (bare, or a fixture's ``body``) with model and stream set."""
    if path is None:
        return Body(synthetic(model, stream, kb=kb, deltas=deltas))
    doc = orjson.loads(path.read_bytes())
    if isinstance(doc, dict) and isinstance(doc.get("body"), dict):
        doc = doc["body"]
    if not isinstance(doc, dict):
        raise ValueError(f"{path}: not a JSON object")
    doc = dict(doc, model=model, stream=stream)
    return Body(doc)
