"""TypedDicts of the Anthropic Messages API: request, content blocks, response, stream events, usage, errors.

``total=False`` wherever the wire allows a field to be absent. These describe what we read and write;
the passthrough dialect never reshapes a client's body, so unknown fields and block types still travel.
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict

StopReason = Literal["end_turn", "max_tokens", "stop_sequence", "tool_use", "pause_turn", "refusal"]


class CacheControl(TypedDict, total=False):
    type: Literal["ephemeral"]
    ttl: str


class TextBlock(TypedDict, total=False):
    type: Literal["text"]
    text: str
    cache_control: CacheControl
    citations: list[Any] | None


class ImageSource(TypedDict, total=False):
    type: Literal["base64", "url", "file"]
    media_type: str
    data: str
    url: str


class ImageBlock(TypedDict, total=False):
    type: Literal["image"]
    source: ImageSource
    cache_control: CacheControl


class DocumentBlock(TypedDict, total=False):
    type: Literal["document"]
    source: dict[str, Any]
    title: str
    cache_control: CacheControl


class ThinkingBlock(TypedDict, total=False):
    type: Literal["thinking"]
    thinking: str
    signature: str


class RedactedThinkingBlock(TypedDict):
    type: Literal["redacted_thinking"]
    data: str


class ToolUseBlock(TypedDict, total=False):
    type: Literal["tool_use"]
    id: str
    name: str
    input: dict[str, Any]
    cache_control: CacheControl


class ToolResultBlock(TypedDict, total=False):
    type: Literal["tool_result"]
    tool_use_id: str
    content: str | list[TextBlock | ImageBlock | DocumentBlock]
    is_error: bool
    cache_control: CacheControl


ContentBlock = (
    TextBlock | ImageBlock | DocumentBlock | ThinkingBlock | RedactedThinkingBlock | ToolUseBlock | ToolResultBlock
)


class MessageParam(TypedDict):
    role: Literal["user", "assistant", "system"]
    content: str | list[ContentBlock]


class Tool(TypedDict, total=False):
    name: str
    description: str
    input_schema: dict[str, Any]
    type: str
    cache_control: CacheControl


class ToolChoice(TypedDict, total=False):
    type: Literal["auto", "any", "tool", "none"]
    name: str
    disable_parallel_tool_use: bool


class ThinkingConfig(TypedDict, total=False):
    type: Literal["enabled", "disabled", "adaptive"]
    budget_tokens: int


class OutputFormat(TypedDict, total=False):
    type: Literal["json_schema"]
    schema: dict[str, Any]


class OutputConfig(TypedDict, total=False):
    effort: Literal["low", "medium", "high", "max"]
    format: OutputFormat


class Metadata(TypedDict, total=False):
    user_id: str


class MessagesRequest(TypedDict, total=False):
    model: str
    messages: list[MessageParam]
    max_tokens: int
    system: str | list[TextBlock]
    tools: list[Tool]
    tool_choice: ToolChoice
    temperature: float
    top_p: float
    top_k: int
    stop_sequences: list[str]
    stream: bool
    metadata: Metadata
    thinking: ThinkingConfig
    output_config: OutputConfig


class Usage(TypedDict, total=False):
    input_tokens: int
    output_tokens: int
    cache_creation_input_tokens: int
    cache_read_input_tokens: int


class Message(TypedDict, total=False):
    """A complete answer (``POST /v1/messages`` without streaming; the ``message`` of ``message_start``)."""

    id: str
    type: Literal["message"]
    role: Literal["assistant"]
    model: str
    content: list[Any]
    stop_reason: StopReason | str | None
    stop_sequence: str | None
    usage: Usage


class ErrorDetail(TypedDict):
    type: str
    message: str


class ErrorEnvelope(TypedDict):
    """Every error body and the ``event: error`` payload: ``{"type": "error", "error": {type, message}}``."""

    type: Literal["error"]
    error: ErrorDetail


class MessageStartEvent(TypedDict):
    type: Literal["message_start"]
    message: Message


class ContentBlockStartEvent(TypedDict):
    type: Literal["content_block_start"]
    index: int
    content_block: dict[str, Any]


class TextDelta(TypedDict):
    type: Literal["text_delta"]
    text: str


class InputJsonDelta(TypedDict):
    type: Literal["input_json_delta"]
    partial_json: str


class ThinkingDelta(TypedDict):
    type: Literal["thinking_delta"]
    thinking: str


class SignatureDelta(TypedDict):
    type: Literal["signature_delta"]
    signature: str


class ContentBlockDeltaEvent(TypedDict):
    type: Literal["content_block_delta"]
    index: int
    delta: TextDelta | InputJsonDelta | ThinkingDelta | SignatureDelta


class ContentBlockStopEvent(TypedDict):
    type: Literal["content_block_stop"]
    index: int


class MessageDeltaBody(TypedDict):
    stop_reason: StopReason | str | None
    stop_sequence: str | None


class MessageDeltaEvent(TypedDict):
    type: Literal["message_delta"]
    delta: MessageDeltaBody
    usage: Usage


class MessageStopEvent(TypedDict):
    type: Literal["message_stop"]


class PingEvent(TypedDict):
    type: Literal["ping"]


StreamEvent = (
    MessageStartEvent
    | ContentBlockStartEvent
    | ContentBlockDeltaEvent
    | ContentBlockStopEvent
    | MessageDeltaEvent
    | MessageStopEvent
    | PingEvent
    | ErrorEnvelope
)
