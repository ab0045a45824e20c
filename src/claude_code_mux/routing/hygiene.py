"""Thinking hygiene: drop thinking blocks an Anthropic upstream would reject as foreign.

When a conversation moves between providers, the history can carry ``thinking`` / ``redacted_thinking``
blocks that another provider produced. Anthropic verifies every signature it is sent and rejects the
request with "Invalid signature in thinking block". :func:`clean_foreign_thinking` removes the blocks
whose signature *cannot* be Anthropic's before such a request leaves.

Heuristic (deliberately narrow, so genuine Anthropic blocks are never dropped):

- a ``thinking`` block is foreign when its ``signature`` is missing, not a string, blank, or starts with a
  marker in :data:`FOREIGN_SIGNATURE_PREFIXES`: ``ccm:`` (what our translators put on thinking synthesised
  from another dialect) and ``gAAAAA`` (an OpenAI encrypted-reasoning Fernet token; Anthropic signatures
  are base64 protobuf and start otherwise);
- a ``redacted_thinking`` block is foreign when its ``data`` is missing, not a string or blank.

Nothing changes (``None`` is returned, so the client's bytes are forwarded byte-identical) when the target
is not Anthropic-dialect (the translator decides there), when the target is the provider that produced
the history, or when no block is foreign.

Dropping a block can break two API rules, which are repaired:

- an assistant message left with no content is removed (the API merges the adjacent user turns);
- in an open tool loop (the last message is a user turn with ``tool_result``), a final assistant message
  that started with thinking must still start with thinking while thinking is on. If it no longer does,
  thinking is switched off for this request (``thinking: {"type": "disabled"}``) and ``clear_thinking_*``
  context-management edits, which require thinking, are removed.
"""

from __future__ import annotations

from typing import Any

FOREIGN_SIGNATURE_PREFIXES = ("ccm:", "gAAAAA")
_THINKING_TYPES = ("thinking", "redacted_thinking")


def foreign_thinking_fields(kind: Any, signature: Any, data: Any) -> bool:
    """The rule itself, on a block's ``type``, ``signature`` and ``data`` (None when absent)."""
    if kind == "thinking":
        sig = signature
        return not isinstance(sig, str) or not sig.strip() or sig.startswith(FOREIGN_SIGNATURE_PREFIXES)
    if kind == "redacted_thinking":
        return not isinstance(data, str) or not data.strip()
    return False


def is_foreign_thinking(block: Any) -> bool:
    """Whether a content block is a thinking block whose signature cannot come from Anthropic."""
    if not isinstance(block, dict):
        return False
    return foreign_thinking_fields(block.get("type"), block.get("signature"), block.get("data"))


def clean_foreign_thinking(
    body: dict[str, Any], *, target_dialect_is_anthropic: bool, same_provider_as_history: bool
) -> dict[str, Any] | None:
    """A copy of ``body`` without foreign thinking blocks, or None when nothing needs to change.

    ``body`` is never mutated; only the edited messages (and the top-level dict) are copied.
    """
    if not target_dialect_is_anthropic or same_provider_as_history:
        return None
    messages = body.get("messages")
    if not isinstance(messages, list):
        return None
    new_messages: list[Any] | None = None
    lost_lead: set[int] = set()  # indexes (in the new list) of assistant messages that lost a leading block
    for i, msg in enumerate(messages):
        content = msg.get("content") if isinstance(msg, dict) else None
        if (
            isinstance(msg, dict)
            and msg.get("role") == "assistant"
            and isinstance(content, list)
            and any(is_foreign_thinking(b) for b in content)
        ):
            if new_messages is None:
                new_messages = list(messages[:i])
            kept = [b for b in content if not is_foreign_thinking(b)]
            if not kept:
                continue  # the whole message was foreign thinking
            if _starts_with_thinking(content) and not _starts_with_thinking(kept):
                lost_lead.add(len(new_messages))
            new_messages.append({**msg, "content": kept})
        elif new_messages is not None:
            new_messages.append(msg)
    if new_messages is None:
        return None
    out = dict(body)
    out["messages"] = new_messages
    if lost_lead and _in_tool_loop(new_messages) and _final_assistant(new_messages) in lost_lead:
        _disable_thinking(out)
    return out


def _starts_with_thinking(content: list[Any]) -> bool:
    return bool(content) and isinstance(content[0], dict) and content[0].get("type") in _THINKING_TYPES


def _in_tool_loop(messages: list[Any]) -> bool:
    last = messages[-1] if messages else None
    if not isinstance(last, dict) or last.get("role") != "user":
        return False
    content = last.get("content")
    return isinstance(content, list) and any(isinstance(b, dict) and b.get("type") == "tool_result" for b in content)


def _final_assistant(messages: list[Any]) -> int | None:
    for i in range(len(messages) - 1, -1, -1):
        msg = messages[i]
        if isinstance(msg, dict) and msg.get("role") == "assistant":
            return i
    return None


def _disable_thinking(out: dict[str, Any]) -> None:
    thinking = out.get("thinking")
    if not isinstance(thinking, dict) or thinking.get("type") in (None, "disabled"):
        return
    out["thinking"] = {"type": "disabled"}
    cm = out.get("context_management")
    if isinstance(cm, dict) and isinstance(cm.get("edits"), list):
        edits = [
            e for e in cm["edits"] if not (isinstance(e, dict) and str(e.get("type", "")).startswith("clear_thinking"))
        ]
        if len(edits) != len(cm["edits"]):
            if edits:
                out["context_management"] = {**cm, "edits": edits}
            else:
                out.pop("context_management", None)
