"""Anthropic Messages request -> Gemini ``generateContent`` request (a pure function).

What maps where:

- ``system`` (and mid-conversation ``role: "system"`` messages) -> ``systemInstruction``; Claude Code's
  per-request billing-header block is dropped (it would defeat Gemini's implicit prefix caching).
- roles: ``user`` -> ``user``, ``assistant`` -> ``model``; consecutive turns of one role are merged and empty
  turns dropped (Gemini rejects a content without parts).
- text -> ``text``; base64 image/PDF -> ``inlineData``; URL image/PDF -> ``fileData``; plain-text documents and
  search results -> ``text``.
- ``tool_use`` -> ``functionCall {name, args}``. Gemini 3 rejects a history whose first call of a model turn has
  no ``thoughtSignature``: the signature Gemini gave with that call is sent back when the caller still knows it
  (``signatures``: tool_use id -> signature, kept by the dialect), else Google's documented
  ``skip_thought_signature_validator`` (history from elsewhere; earlier models ignore it).
- ``tool_result`` -> ``functionResponse {name, response: {output | error}}``. Gemini pairs responses with calls
  by name and order, so the ids stay on our side: the responses to a model turn's calls open the next user turn,
  in the calls' order; a call without a result gets a placeholder, and a result whose call is unknown becomes
  user text. Images in a result follow it as ``inlineData`` parts.
- ``thinking`` blocks are dropped (Gemini cannot verify them).
- ``tools`` -> one ``functionDeclarations`` tool (parameters in the JSON-schema subset Gemini accepts, see
  :mod:`~claude_code_mux.translate.gemini_schema`); server tools without ``input_schema`` are skipped;
  ``tool_choice`` auto/any/tool/none -> ``functionCallingConfig`` AUTO/ANY/ANY+allowed name/NONE.
- ``generationConfig``: ``max_tokens`` -> ``maxOutputTokens``, temperature, ``top_p``, ``top_k``, the first five
  ``stop_sequences``; only what the client sent (no forced values).
- thinking: ``{"type": "enabled", budget_tokens}`` -> ``thinkingBudget``; ``adaptive`` -> ``thinkingLevel``
  from ``output_config.effort`` on Gemini 3 models, else a dynamic budget (``-1``); thoughts are always asked
  for (``includeThoughts``) when thinking is on. Off means nothing is sent (the model's default applies).
- ``output_config.format`` json_schema -> ``responseMimeType: application/json`` + ``responseSchema``.
- ``safetySettings`` come from the provider's configuration, never from the client.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping, Sequence
from typing import Any

import orjson

from claude_code_mux.translate.gemini_schema import gemini_schema
from claude_code_mux.wire.gemini import Content, GenerateContentRequest, Part

_BILLING_PREFIX = "x-anthropic-billing-header:"
NO_RESULT = "the tool call was not answered"
SKIP_SIGNATURE = "skip_thought_signature_validator"
MAX_STOP_SEQUENCES = 5
_EFFORT_LEVEL = {"low": "low", "medium": "high", "high": "high", "max": "high"}


def to_gemini_request(
    body: dict[str, Any],
    *,
    model: str,
    safety_settings: Sequence[dict[str, str]] = (),
    signatures: Mapping[str, str] | None = None,
    declarations: MutableMapping[bytes, dict[str, Any]] | None = None,
) -> GenerateContentRequest:
    """Translate an Anthropic Messages request for a Gemini model (the model goes in the URL, not here).

    ``declarations`` memoises converted tool declarations by the tool's JSON (the caller bounds it): Claude Code
    sends the same two dozen tools with every request, and converting their schemas is most of the work.
    """
    out: GenerateContentRequest = {"contents": _contents(body.get("messages"), signatures or {})}
    system = _system_texts(body)
    if system:
        out["systemInstruction"] = {"parts": [{"text": "\n\n".join(system)}]}
    decls = _declarations(body.get("tools"), declarations)
    if decls:
        out["tools"] = [{"functionDeclarations": decls}]  # type: ignore[typeddict-item]
        cfg = _tool_config(body.get("tool_choice"))
        if cfg is not None:
            out["toolConfig"] = {"functionCallingConfig": cfg}  # type: ignore[typeddict-item]
    gen = _generation_config(body, model)
    if gen:
        out["generationConfig"] = gen  # type: ignore[typeddict-item]
    if safety_settings:
        out["safetySettings"] = [dict(s) for s in safety_settings]  # type: ignore[misc]
    return out


def _num(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _generation_config(body: dict[str, Any], model: str) -> dict[str, Any]:
    gen: dict[str, Any] = {}
    if isinstance(body.get("max_tokens"), int) and not isinstance(body["max_tokens"], bool):
        gen["maxOutputTokens"] = body["max_tokens"]
    for src, dst in (("temperature", "temperature"), ("top_p", "topP")):
        if _num(body.get(src)):
            gen[dst] = body[src]
    if isinstance(body.get("top_k"), int) and not isinstance(body["top_k"], bool):
        gen["topK"] = body["top_k"]
    stop = body.get("stop_sequences")
    if isinstance(stop, list):
        seqs = [s for s in stop if isinstance(s, str) and s][:MAX_STOP_SEQUENCES]
        if seqs:
            gen["stopSequences"] = seqs
    thinking = _thinking_config(body, model)
    if thinking:
        gen["thinkingConfig"] = thinking
    fmt = _response_format(body.get("output_config"))
    if fmt:
        gen.update(fmt)
    return gen


def _thinking_config(body: dict[str, Any], model: str) -> dict[str, Any]:
    thinking = body.get("thinking")
    if not isinstance(thinking, dict):
        return {}
    kind = thinking.get("type")
    oc = body.get("output_config")
    effort = oc.get("effort") if isinstance(oc, dict) else None
    gemini3 = "gemini-3" in model
    if kind == "enabled":
        budget = thinking.get("budget_tokens")
        if gemini3 and effort in _EFFORT_LEVEL:
            return {"thinkingLevel": _EFFORT_LEVEL[effort], "includeThoughts": True}
        if isinstance(budget, int) and not isinstance(budget, bool) and budget > 0:
            return {"thinkingBudget": budget, "includeThoughts": True}
        return {"thinkingBudget": -1, "includeThoughts": True}
    if kind == "adaptive":
        if gemini3 and effort in _EFFORT_LEVEL:
            return {"thinkingLevel": _EFFORT_LEVEL[effort], "includeThoughts": True}
        return {"thinkingBudget": -1, "includeThoughts": True}
    return {}


def _response_format(oc: Any) -> dict[str, Any]:
    fmt = oc.get("format") if isinstance(oc, dict) else None
    if not isinstance(fmt, dict) or fmt.get("type") != "json_schema" or not isinstance(fmt.get("schema"), dict):
        return {}
    return {"responseMimeType": "application/json", "responseSchema": gemini_schema(fmt["schema"])}


# ---------------------------------------------------------------------------------------------
# system and contents


def _system_texts(body: dict[str, Any]) -> list[str]:
    texts = _texts_of(body.get("system"))
    for msg in body.get("messages") or []:
        if isinstance(msg, dict) and msg.get("role") == "system":
            texts += _texts_of(msg.get("content"))
    return [t for t in texts if t]


def _texts_of(system: Any) -> list[str]:
    if isinstance(system, str):
        return [system]
    if not isinstance(system, list):
        return []
    return [
        b["text"]
        for b in system
        if isinstance(b, dict) and isinstance(b.get("text"), str) and not b["text"].startswith(_BILLING_PREFIX)
    ]


def _media_part(source: Any, default_mime: str) -> Part | None:
    if not isinstance(source, dict):
        return None
    mime = source.get("media_type") if isinstance(source.get("media_type"), str) else default_mime
    if source.get("type") == "base64" and isinstance(source.get("data"), str):
        return {"inlineData": {"mimeType": str(mime), "data": source["data"]}}
    if source.get("type") == "url" and isinstance(source.get("url"), str):
        return {"fileData": {"mimeType": str(mime), "fileUri": source["url"]}}
    return None


def _plain_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    return "\n".join(
        b if isinstance(b, str) else b["text"]
        for b in content
        if isinstance(b, str) or (isinstance(b, dict) and isinstance(b.get("text"), str))
    )


def _user_part(block: dict[str, Any]) -> Part | None:
    kind = block.get("type")
    if kind == "text" and isinstance(block.get("text"), str) and block["text"]:
        return {"text": block["text"]}
    if kind == "image":
        return _media_part(block.get("source"), "image/png")
    if kind == "document":
        source = block.get("source")
        if isinstance(source, dict) and source.get("type") == "text" and isinstance(source.get("data"), str):
            return {"text": source["data"]}
        if isinstance(source, dict) and source.get("type") == "content":
            text = _plain_text(source.get("content"))
            return {"text": text} if text else None
        return _media_part(source, "application/pdf")
    if kind == "search_result":
        text = _plain_text(block.get("content"))
        return {"text": text} if text else None
    return None


def _result_payload(block: dict[str, Any]) -> tuple[dict[str, Any], list[Part]]:
    content = block.get("content")
    images: list[Part] = []
    texts: list[str] = []
    if isinstance(content, list):
        for b in content:
            if isinstance(b, dict) and b.get("type") == "image":
                part = _media_part(b.get("source"), "image/png")
                if part is not None:
                    images.append(part)
            elif isinstance(b, dict | str):
                texts.append(_plain_text([b]))
    elif isinstance(content, str):
        texts.append(content)
    text = "\n".join(t for t in texts if t)
    key = "error" if block.get("is_error") is True else "output"
    return {key: text}, images


class _Turns:
    """Builds ``contents``: merges same-role turns and pairs function responses with the calls before them."""

    def __init__(self, signatures: Mapping[str, str]) -> None:
        self.signatures = signatures
        self.contents: list[Content] = []
        self.pending: list[tuple[str, str]] = []  # (tool_use id, name) of the last model turn's calls
        self.names: dict[str, str] = {}

    def add(self, role: str, parts: list[Part]) -> None:
        if not parts:
            return
        if self.contents and self.contents[-1]["role"] == role:
            self.contents[-1]["parts"].extend(parts)
        else:
            self.contents.append({"role": role, "parts": parts})

    def model_turn(self, content: Any) -> None:
        self.close_calls({})
        if isinstance(content, str):
            self.add("model", [{"text": content}] if content else [])
            return
        parts: list[Part] = []
        signed = False
        for block in content if isinstance(content, list) else []:
            if not isinstance(block, dict):
                continue
            kind = block.get("type")
            if kind == "text" and isinstance(block.get("text"), str) and block["text"]:
                parts.append({"text": block["text"]})
            elif kind == "tool_use" and isinstance(block.get("name"), str):
                args = block.get("input")
                part: Part = {"functionCall": {"name": block["name"], "args": args if isinstance(args, dict) else {}}}
                tool_id = str(block["id"]) if isinstance(block.get("id"), str) else ""
                known = self.signatures.get(tool_id)
                if known or not signed:
                    part["thoughtSignature"] = known or SKIP_SIGNATURE
                    signed = True
                parts.append(part)
                self.pending.append((tool_id, block["name"]))
                self.names[tool_id] = block["name"]
        self.add("model", parts)

    def user_turn(self, content: Any) -> None:
        if isinstance(content, str):
            self.close_calls({})
            self.add("user", [{"text": content}] if content else [])
            return
        results: dict[str, tuple[dict[str, Any], list[Part]]] = {}
        orphans: list[Part] = []
        rest: list[Part] = []
        for block in content if isinstance(content, list) else []:
            if isinstance(block, str):
                if block:
                    rest.append({"text": block})
            elif isinstance(block, dict) and block.get("type") == "tool_result":
                tool_id = str(block["tool_use_id"]) if isinstance(block.get("tool_use_id"), str) else ""
                payload, images = _result_payload(block)
                if any(tool_id == pid for pid, _ in self.pending) and tool_id not in results:
                    results[tool_id] = (payload, images)
                else:
                    text = payload.get("output", payload.get("error", ""))
                    orphans.append({"text": f"[tool result {tool_id}]\n{text}"})
                    orphans.extend(images)
            elif isinstance(block, dict):
                part = _user_part(block)
                if part is not None:
                    rest.append(part)
        self.close_calls(results)
        self.add("user", orphans + rest)

    def close_calls(self, results: dict[str, tuple[dict[str, Any], list[Part]]]) -> None:
        """The responses to the pending calls, in their order (placeholders for missing ones)."""
        if not self.pending:
            return
        parts: list[Part] = []
        images: list[Part] = []
        for tool_id, name in self.pending:
            payload, imgs = results.get(tool_id, ({"error": NO_RESULT}, []))
            parts.append({"functionResponse": {"name": name, "response": payload}})
            images.extend(imgs)
        self.pending = []
        self.add("user", parts + images)


def _contents(messages: Any, signatures: Mapping[str, str]) -> list[Content]:
    turns = _Turns(signatures)
    for msg in messages if isinstance(messages, list) else []:
        if not isinstance(msg, dict):
            continue
        role = msg.get("role")
        if role == "assistant":
            turns.model_turn(msg.get("content"))
        elif role == "user":
            turns.user_turn(msg.get("content"))
    turns.close_calls({})
    return turns.contents


# ---------------------------------------------------------------------------------------------
# tools


def _declarations(tools: Any, cache: MutableMapping[bytes, dict[str, Any]] | None) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for tool in tools if isinstance(tools, list) else []:
        if not isinstance(tool, dict) or not isinstance(tool.get("name"), str):
            continue
        if not isinstance(tool.get("input_schema"), dict):  # server tools (web_search_...) have no Gemini form
            continue
        if cache is None:
            out.append(_declaration(tool))
            continue
        key = orjson.dumps(tool)
        decl = cache.get(key)
        if decl is None:
            decl = cache[key] = _declaration(tool)
        out.append(decl)
    return out


def _declaration(tool: dict[str, Any]) -> dict[str, Any]:
    decl: dict[str, Any] = {"name": tool["name"]}
    if isinstance(tool.get("description"), str) and tool["description"]:
        decl["description"] = tool["description"]
    params = gemini_schema(tool["input_schema"])
    if params.get("properties"):
        decl["parameters"] = params
    return decl


def _tool_config(tc: Any) -> dict[str, Any] | None:
    if not isinstance(tc, dict):
        return None
    kind = tc.get("type")
    if kind == "auto":
        return {"mode": "AUTO"}
    if kind == "any":
        return {"mode": "ANY"}
    if kind == "none":
        return {"mode": "NONE"}
    if kind == "tool" and isinstance(tc.get("name"), str):
        return {"mode": "ANY", "allowedFunctionNames": [tc["name"]]}
    return None
