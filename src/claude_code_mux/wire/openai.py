"""TypedDicts of the OpenAI Chat Completions API: request, response and stream chunk, as far as we use them.

``total=False`` wherever the wire allows a field to be absent. Vendor extensions we read (``reasoning_content``,
``reasoning``, ``x_groq``, DeepSeek's ``prompt_cache_hit_tokens``) are declared here too.
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict


class ImageURL(TypedDict, total=False):
    url: str
    detail: str


class ContentPart(TypedDict, total=False):
    """``text``, ``image_url`` or ``file`` (and Mistral's ``thinking`` in answers)."""

    type: str
    text: str
    image_url: ImageURL
    file: dict[str, str]
    thinking: str | list[Any]


class FunctionCall(TypedDict, total=False):
    name: str
    arguments: str


class ToolCall(TypedDict, total=False):
    id: str
    type: Literal["function"]
    function: FunctionCall


class ChatMessage(TypedDict, total=False):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None
    tool_calls: list[ToolCall]
    tool_call_id: str
    reasoning_content: str
    reasoning: str
    refusal: str | None
    function_call: FunctionCall


class FunctionDef(TypedDict, total=False):
    name: str
    description: str
    parameters: dict[str, Any]


class Tool(TypedDict):
    type: Literal["function"]
    function: FunctionDef


class StreamOptions(TypedDict, total=False):
    include_usage: bool


class ChatCompletionRequest(TypedDict, total=False):
    model: str
    messages: list[ChatMessage]
    tools: list[Tool]
    tool_choice: str | dict[str, Any]
    parallel_tool_calls: bool
    max_tokens: int
    max_completion_tokens: int
    temperature: float
    top_p: float
    stop: list[str]
    stream: bool
    stream_options: StreamOptions
    response_format: dict[str, Any]
    user: str
    reasoning: dict[str, Any]


class PromptTokensDetails(TypedDict, total=False):
    cached_tokens: int
    cache_write_tokens: int


class CompletionUsage(TypedDict, total=False):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    prompt_tokens_details: PromptTokensDetails
    prompt_cache_hit_tokens: int


class Choice(TypedDict, total=False):
    index: int
    message: ChatMessage
    finish_reason: str | None


class ChatCompletion(TypedDict, total=False):
    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    choices: list[Choice]
    usage: CompletionUsage | None


class ChunkChoice(TypedDict, total=False):
    index: int
    delta: ChatMessage
    message: ChatMessage
    finish_reason: str | None


class ChatCompletionChunk(TypedDict, total=False):
    id: str
    object: Literal["chat.completion.chunk"]
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: CompletionUsage | None
    x_groq: dict[str, Any]
    error: Any
