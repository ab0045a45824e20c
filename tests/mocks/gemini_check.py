"""Request validation for the Gemini mock: what generativelanguage.googleapis.com rejects with HTTP 400.

Strict on purpose, so the mock checks the request translator: unknown fields anywhere Gemini has a fixed
message type, parts without exactly one data field, empty contents, a model turn's function calls not answered by
the same number of function responses (same names, same order) in the next user turn, JSON-schema keywords the
``Schema`` type does not have, enums on non-strings, more than five stop sequences, bad safety settings.
"""

from __future__ import annotations

import re
from typing import Any

TOP = {"contents", "systemInstruction", "tools", "toolConfig", "generationConfig", "safetySettings", "cachedContent"}
PART_DATA = {"text", "inlineData", "fileData", "functionCall", "functionResponse", "executableCode"}
PART_META = {"thought", "thoughtSignature"}
GEN = {
    *("maxOutputTokens", "temperature", "topP", "topK", "stopSequences", "responseMimeType"),
    *("responseSchema", "thinkingConfig", "candidateCount", "seed", "presencePenalty", "frequencyPenalty"),
}
THINKING = {"thinkingBudget", "thinkingLevel", "includeThoughts"}
SCHEMA = {
    *("type", "format", "title", "description", "nullable", "enum", "maxItems", "minItems", "properties"),
    *("required", "minProperties", "maxProperties", "minLength", "maxLength", "pattern", "example", "anyOf"),
    *("propertyOrdering", "default", "items", "minimum", "maximum"),
}
TYPES = {"string", "number", "integer", "boolean", "array", "object"}
NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_.:-]{0,63}$")


def unknown(name: str, where: str) -> str:
    return f"Invalid JSON payload received. Unknown name \"{name}\" at '{where}': Cannot find field."


def check_schema(schema: Any, where: str, depth: int = 0) -> str | None:
    if not isinstance(schema, dict):
        return f"{where}: schema must be an object"
    for key in schema:
        if key not in SCHEMA:
            return unknown(key, where)
    kind = schema.get("type")
    if kind is not None and (not isinstance(kind, str) or kind.lower() not in TYPES):
        return f"{where}.type: Invalid value {kind!r}"
    if "enum" in schema and (kind != "string" or not all(isinstance(v, str) for v in schema["enum"])):
        return f"{where}.enum: only allowed for STRING type"
    if kind == "object" and "properties" in schema and not schema["properties"]:
        return f"{where}.properties: should be non-empty for OBJECT type"
    props = schema.get("properties")
    if isinstance(props, dict):
        for name, sub in props.items():
            err = check_schema(sub, f"{where}.properties[{name}]", depth + 1)
            if err:
                return err
        for r in schema.get("required") or []:
            if r not in props:
                return f"{where}.required: property {r!r} is not defined"
    if kind == "array" and "items" not in schema:
        return f"{where}.items: missing field"
    if "items" in schema:
        err = check_schema(schema["items"], f"{where}.items", depth + 1)
        if err:
            return err
    for i, sub in enumerate(schema.get("anyOf") or []):
        err = check_schema(sub, f"{where}.anyOf[{i}]", depth + 1)
        if err:
            return err
    return None


def _check_part(part: Any, where: str) -> str | None:
    if not isinstance(part, dict):
        return f"{where}: part must be an object"
    for key in part:
        if key not in PART_DATA | PART_META:
            return unknown(key, where)
    data = [k for k in part if k in PART_DATA]
    if len(data) != 1:
        return f"{where}: a part must have exactly one data field (has {data})"
    if "functionCall" in part:
        call = part["functionCall"]
        if (
            not isinstance(call, dict)
            or not isinstance(call.get("name"), str)
            or not isinstance(call.get("args", {}), dict)
        ):
            return f"{where}.functionCall: name and args required"
    if "functionResponse" in part:
        resp = part["functionResponse"]
        if (
            not isinstance(resp, dict)
            or not isinstance(resp.get("name"), str)
            or not isinstance(resp.get("response"), dict)
        ):
            return f"{where}.functionResponse: name and response (an object) required"
    if "inlineData" in part:
        blob = part["inlineData"]
        if not isinstance(blob, dict) or not blob.get("mimeType") or not isinstance(blob.get("data"), str):
            return f"{where}.inlineData: mimeType and data required"
    return None


def _calls(content: dict[str, Any]) -> list[str]:
    return [p["functionCall"]["name"] for p in content["parts"] if "functionCall" in p]


def _check_contents(contents: Any) -> str | None:
    if not isinstance(contents, list) or not contents:
        return "* GenerateContentRequest.contents: contents is not specified"
    for i, c in enumerate(contents):
        where = f"contents[{i}]"
        if not isinstance(c, dict):
            return f"{where}: must be an object"
        for key in c:
            if key not in ("role", "parts"):
                return unknown(key, where)
        if c.get("role") not in ("user", "model"):
            return f"{where}.role: Please use a valid role: user, model."
        parts = c.get("parts")
        if not isinstance(parts, list) or not parts:
            return f"* GenerateContentRequest.{where}.parts: contents.parts must not be empty."
        for j, p in enumerate(parts):
            err = _check_part(p, f"{where}.parts[{j}]")
            if err:
                return err
    for i, c in enumerate(contents):
        calls = _calls(c) if c["role"] == "model" else []
        if not calls:
            continue
        nxt = contents[i + 1] if i + 1 < len(contents) else None
        if nxt is None:
            continue
        responses = [p["functionResponse"]["name"] for p in nxt["parts"] if "functionResponse" in p]
        leading = [p for p in nxt["parts"][: len(calls)] if "functionResponse" in p]
        if nxt["role"] != "user" or len(responses) != len(calls) or len(leading) != len(calls):
            return (
                "Please ensure that the number of function response parts is equal to the number of function call "
                "parts of the function call turn."
            )
        if responses != calls:
            return "Please ensure that function response names match the function call names, in order."
    for i, c in enumerate(contents):
        responds = c["role"] == "user" and any("functionResponse" in p for p in c["parts"])
        if responds and (i == 0 or not _calls(contents[i - 1])):
            return f"contents[{i}]: a function response must follow a function call turn"
    return None


def validate_gemini_request(body: Any) -> str | None:
    """The error message Gemini would answer with (HTTP 400), or None when the request is fine."""
    if not isinstance(body, dict):
        return "Invalid JSON payload received."
    for key in body:
        if key not in TOP:
            return unknown(key, "")
    err = _check_contents(body.get("contents"))
    if err:
        return err
    si = body.get("systemInstruction")
    if si is not None:
        if not isinstance(si, dict) or not isinstance(si.get("parts"), list) or not si["parts"]:
            return "systemInstruction: parts required"
        if any(not isinstance(p, dict) or set(p) != {"text"} for p in si["parts"]):
            return "systemInstruction: only text parts"
    for t, tool in enumerate(body.get("tools") or []):
        if not isinstance(tool, dict) or set(tool) - {"functionDeclarations", "googleSearch", "codeExecution"}:
            return f"tools[{t}]: unknown tool"
        for d, decl in enumerate(tool.get("functionDeclarations") or []):
            where = f"tools[{t}].function_declarations[{d}]"
            if not isinstance(decl, dict) or set(decl) - {"name", "description", "parameters"}:
                return unknown(str(set(decl) - {"name", "description", "parameters"}), where)
            if not NAME.match(str(decl.get("name", ""))):
                return f"{where}.name: Invalid function name"
            if "parameters" in decl:
                err = check_schema(decl["parameters"], f"{where}.parameters")
                if err:
                    return err
    tc = body.get("toolConfig")
    if tc is not None:
        fcc = tc.get("functionCallingConfig") if isinstance(tc, dict) else None
        if not isinstance(fcc, dict) or fcc.get("mode") not in ("AUTO", "ANY", "NONE", "VALIDATED"):
            return "toolConfig.functionCallingConfig.mode: invalid"
    gen = body.get("generationConfig")
    if gen is not None:
        for key in gen:
            if key not in GEN:
                return unknown(key, "generation_config")
        if len(gen.get("stopSequences") or []) > 5:
            return "generationConfig.stopSequences: at most 5 stop sequences"
        for key in gen.get("thinkingConfig") or {}:
            if key not in THINKING:
                return unknown(key, "generation_config.thinking_config")
        if "responseSchema" in gen:
            err = check_schema(gen["responseSchema"], "generation_config.response_schema")
            if err:
                return err
    for s in body.get("safetySettings") or []:
        if not isinstance(s, dict) or not str(s.get("category", "")).startswith("HARM_CATEGORY_"):
            return "safetySettings: invalid category"
        if s.get("threshold") not in (
            "BLOCK_NONE",
            "BLOCK_ONLY_HIGH",
            "BLOCK_MEDIUM_AND_ABOVE",
            "BLOCK_LOW_AND_ABOVE",
            "OFF",
        ):
            return "safetySettings: invalid threshold"
    return None
