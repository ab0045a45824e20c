"""TypedDicts of the OpenAI Responses API (``POST /v1/responses``) as far as we send or read it.

``total=False`` wherever the wire allows a field to be absent. Only the shapes the translators touch are
described; anything else the API sends passes through the translators' ``.get`` reads untyped.
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict


class InputText(TypedDict):
    type: Literal["input_text"]
    text: str


class InputImage(TypedDict, total=False):
    type: Literal["input_image"]
    image_url: str
    detail: Literal["auto", "low", "high"]


class InputFile(TypedDict, total=False):
    type: Literal["input_file"]
    filename: str
    file_data: str


InputContent = InputText | InputImage | InputFile


class MessageItem(TypedDict, total=False):
    """An input message (``EasyInputMessage``): user/developer content parts, or assistant text."""

    type: Literal["message"]
    role: Literal["user", "assistant", "system", "developer"]
    content: str | list[InputContent]


class FunctionCallItem(TypedDict, total=False):
    type: Literal["function_call"]
    id: str
    call_id: str
    name: str
    arguments: str
    status: str


class FunctionCallOutputItem(TypedDict):
    type: Literal["function_call_output"]
    call_id: str
    output: str


InputItem = MessageItem | FunctionCallItem | FunctionCallOutputItem


class FunctionTool(TypedDict, total=False):
    type: Literal["function"]
    name: str
    description: str
    parameters: dict[str, Any]
    strict: bool


class Reasoning(TypedDict, total=False):
    effort: Literal["minimal", "low", "medium", "high"]
    summary: Literal["auto", "concise", "detailed"]


class TextFormat(TypedDict, total=False):
    type: Literal["json_schema", "text", "json_object"]
    name: str
    schema: dict[str, Any]
    strict: bool


class TextConfig(TypedDict, total=False):
    format: TextFormat


class ResponsesRequest(TypedDict, total=False):
    model: str
    instructions: str
    input: list[InputItem]
    tools: list[FunctionTool]
    tool_choice: str | dict[str, str]
    parallel_tool_calls: bool
    max_output_tokens: int
    temperature: float
    top_p: float
    reasoning: Reasoning
    text: TextConfig
    store: bool
    stream: bool
    prompt_cache_key: str
    include: list[str]


class InputTokensDetails(TypedDict, total=False):
    cached_tokens: int


class OutputTokensDetails(TypedDict, total=False):
    reasoning_tokens: int


class ResponseUsage(TypedDict, total=False):
    input_tokens: int
    input_tokens_details: InputTokensDetails
    output_tokens: int
    output_tokens_details: OutputTokensDetails
    total_tokens: int


class ResponseError(TypedDict, total=False):
    code: str
    message: str


class IncompleteDetails(TypedDict, total=False):
    reason: Literal["max_output_tokens", "content_filter"]


class SummaryText(TypedDict):
    type: Literal["summary_text"]
    text: str


class OutputText(TypedDict, total=False):
    type: Literal["output_text"]
    text: str
    annotations: list[Any]


class Refusal(TypedDict):
    type: Literal["refusal"]
    refusal: str


class OutputMessage(TypedDict, total=False):
    type: Literal["message"]
    id: str
    role: Literal["assistant"]
    status: str
    content: list[OutputText | Refusal]


class ReasoningItem(TypedDict, total=False):
    type: Literal["reasoning"]
    id: str
    summary: list[SummaryText]
    encrypted_content: str | None


OutputItem = OutputMessage | ReasoningItem | FunctionCallItem


class Response(TypedDict, total=False):
    """The ``response`` object (non-streamed body; also inside ``response.*`` lifecycle events)."""

    id: str
    object: Literal["response"]
    created_at: int
    status: Literal["completed", "failed", "in_progress", "incomplete", "cancelled", "queued"]
    error: ResponseError | None
    incomplete_details: IncompleteDetails | None
    model: str
    output: list[OutputItem]
    usage: ResponseUsage | None


class StreamEvent(TypedDict, total=False):
    """One SSE ``data`` object. ``type`` names the event (``response.output_text.delta``, ``error``, ...)."""

    type: str
    sequence_number: int
    response: Response
    output_index: int
    content_index: int
    summary_index: int
    item_id: str
    item: OutputItem
    delta: str
    arguments: str
    code: str | None
    message: str
