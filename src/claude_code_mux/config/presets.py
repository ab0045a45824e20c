"""Provider presets as data: a vendor is a dialect, a base URL, an auth style, headers and named quirks.

Adding a vendor is adding a row here (or writing ``base_url`` + ``dialect`` in the config), never code.
Quirk names refer to small functions in :mod:`claude_code_mux.translate.quirks`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Dialect = Literal["anthropic", "openai", "openai-responses", "gemini"]


@dataclass(frozen=True, slots=True)
class Preset:
    dialect: Dialect
    base_url: str
    # "x-api-key" (Anthropic), "bearer" (OpenAI), "api-key" (Azure) or "x-goog-api-key" (Gemini) for
    # auth_type = "apikey".
    auth_header: Literal["x-api-key", "bearer", "api-key", "x-goog-api-key"]
    headers: dict[str, str] = field(default_factory=dict)
    quirks: tuple[str, ...] = ()
    # OpenAI dialect: which field carries the output limit.
    max_tokens_field: Literal["max_tokens", "max_completion_tokens"] = "max_tokens"
    # Longest ``user`` value the vendor accepts (OpenRouter rejects > 128 characters).
    user_max_len: int = 64
    needs_key: bool = True
    # Largest output limit the vendor accepts; Claude Code asks for 32000-64000, which some reject.
    max_output_tokens: int | None = None
    # Structured output (``output_config.format`` json_schema, e.g. Claude Code's title requests): "json_schema"
    # sends OpenAI's ``response_format``; "none" drops it (the model answers in plain text), for vendors whose
    # support differs per model.
    json_output: Literal["json_schema", "none"] = "none"
    # Responses dialect: the upstream answers only streams (the ChatGPT Codex backend); non-streaming client
    # requests are answered by folding the stream. Also sends the account id header and no sampling limits.
    stream_only: bool = False


_A: Dialect = "anthropic"
_O: Dialect = "openai"
_R: Dialect = "openai-responses"
_G: Dialect = "gemini"

PRESETS: dict[str, Preset] = {
    # Anthropic Messages API and vendors that speak it. base_url excludes the /v1 suffix.
    "anthropic": Preset(_A, "https://api.anthropic.com", "x-api-key"),
    "z.ai": Preset(_A, "https://api.z.ai/api/anthropic", "x-api-key"),
    "zai": Preset(_A, "https://api.z.ai/api/anthropic", "x-api-key"),
    "minimax": Preset(_A, "https://api.minimax.io/anthropic", "x-api-key"),
    "zenmux": Preset(_A, "https://zenmux.ai/api/anthropic", "x-api-key"),
    "kimi-coding": Preset(_A, "https://api.kimi.com/coding", "x-api-key"),
    "deepseek-anthropic": Preset(_A, "https://api.deepseek.com/anthropic", "x-api-key"),
    "moonshot-anthropic": Preset(_A, "https://api.moonshot.ai/anthropic", "x-api-key"),
    "ollama-anthropic": Preset(_A, "http://localhost:11434", "x-api-key", needs_key=False),
    "anthropic-compatible": Preset(_A, "https://api.anthropic.com", "x-api-key"),
    # OpenAI Chat Completions. base_url includes the version path (…/v1), as in the original.
    "openai": Preset(
        _O, "https://api.openai.com/v1", "bearer", max_tokens_field="max_completion_tokens", json_output="json_schema"
    ),
    "openrouter": Preset(
        _O,
        "https://openrouter.ai/api/v1",
        "bearer",
        headers={"HTTP-Referer": "https://github.com/claude-code-mux", "X-Title": "claude-code-mux"},
        quirks=("reasoning_field",),
        user_max_len=128,
    ),
    "groq": Preset(_O, "https://api.groq.com/openai/v1", "bearer", quirks=("strip_schema_keywords",)),
    "together": Preset(_O, "https://api.together.xyz/v1", "bearer"),
    "fireworks": Preset(_O, "https://api.fireworks.ai/inference/v1", "bearer"),
    "deepinfra": Preset(_O, "https://api.deepinfra.com/v1/openai", "bearer"),
    "cerebras": Preset(_O, "https://api.cerebras.ai/v1", "bearer", quirks=("strip_schema_keywords",)),
    "nebius": Preset(_O, "https://api.studio.nebius.ai/v1", "bearer"),
    "moonshot": Preset(_O, "https://api.moonshot.ai/v1", "bearer"),
    "novita": Preset(_O, "https://api.novita.ai/v3/openai", "bearer", headers={"X-Novita-Source": "claude-code-mux"}),
    "baseten": Preset(_O, "https://inference.baseten.co/v1", "bearer"),
    "deepseek": Preset(
        _O, "https://api.deepseek.com/v1", "bearer", quirks=("deepseek_reasoning",), max_output_tokens=8192
    ),
    "mistral": Preset(_O, "https://api.mistral.ai/v1", "bearer", quirks=("mistral_tool_ids",)),
    "xai": Preset(_O, "https://api.x.ai/v1", "bearer"),
    "gemini-openai": Preset(
        _O,
        "https://generativelanguage.googleapis.com/v1beta/openai",
        "bearer",
        quirks=("strip_schema_keywords", "tool_name_64"),
    ),
    "ollama": Preset(_O, "http://localhost:11434/v1", "bearer", needs_key=False),
    "lmstudio": Preset(_O, "http://localhost:1234/v1", "bearer", needs_key=False),
    "vllm": Preset(_O, "http://localhost:8000/v1", "bearer", needs_key=False),
    "openai-compatible": Preset(_O, "http://localhost:8000/v1", "bearer", needs_key=False),
    # OpenAI Responses API (POST {base_url}/responses). base_url includes /v1.
    "openai-responses": Preset(_R, "https://api.openai.com/v1", "bearer"),
    "openai-responses-compatible": Preset(_R, "http://localhost:8000/v1", "bearer", needs_key=False),
    # Azure OpenAI: base_url is the resource's /openai/v1 (or /openai?api-version=... for dated versions);
    # the model is the deployment name.
    "azure-openai": Preset(_R, "https://YOUR-RESOURCE.openai.azure.com/openai/v1", "api-key"),
    # ChatGPT Plus/Pro subscription (auth_type = "oauth", `ccm login chatgpt`): the Codex backend.
    "chatgpt": Preset(
        _R,
        "https://chatgpt.com/backend-api/codex",
        "bearer",
        headers={"OpenAI-Beta": "responses=experimental", "originator": "claude-code-mux"},
        stream_only=True,
    ),
    # Gemini generateContent (providers/gemini.py). base_url includes the version path.
    "gemini": Preset(_G, "https://generativelanguage.googleapis.com/v1beta", "x-goog-api-key"),
    "gemini-compatible": Preset(_G, "https://generativelanguage.googleapis.com/v1beta", "x-goog-api-key"),
    # Vertex AI: the URL comes from `project` and `location`; google-auth supplies the token.
    "vertex-ai": Preset(_G, "", "bearer", needs_key=False),
    # The Gemini CLI (Code Assist) login: `ccm login gemini`.
    "gemini-cli": Preset(_G, "https://cloudcode-pa.googleapis.com", "bearer", needs_key=False),
}


def preset_for(provider_type: str) -> Preset | None:
    return PRESETS.get(provider_type.strip().lower())
