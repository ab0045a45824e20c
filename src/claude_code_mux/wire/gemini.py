"""The Gemini ``generateContent`` wire shapes (Google AI Studio, Vertex AI and Code Assist) as TypedDicts.

Only the fields we read or write are described; everything is ``total=False`` because the API omits what is
empty. Code Assist (``v1internal``) wraps the request as ``{model, project, request}`` and every answer (and
every stream event) as ``{response}``.
"""

from __future__ import annotations

from typing import Any, TypedDict


class Blob(TypedDict, total=False):
    mimeType: str
    data: str


class FileData(TypedDict, total=False):
    mimeType: str
    fileUri: str


class FunctionCall(TypedDict, total=False):
    id: str
    name: str
    args: dict[str, Any]


class FunctionResponse(TypedDict, total=False):
    id: str
    name: str
    response: dict[str, Any]


class Part(TypedDict, total=False):
    text: str
    thought: bool
    thoughtSignature: str
    inlineData: Blob
    fileData: FileData
    functionCall: FunctionCall
    functionResponse: FunctionResponse


class Content(TypedDict, total=False):
    role: str  # "user" | "model"
    parts: list[Part]


class FunctionDeclaration(TypedDict, total=False):
    name: str
    description: str
    parameters: dict[str, Any]


class Tool(TypedDict, total=False):
    functionDeclarations: list[FunctionDeclaration]


class FunctionCallingConfig(TypedDict, total=False):
    mode: str  # AUTO | ANY | NONE
    allowedFunctionNames: list[str]


class ToolConfig(TypedDict, total=False):
    functionCallingConfig: FunctionCallingConfig


class ThinkingConfig(TypedDict, total=False):
    thinkingBudget: int
    thinkingLevel: str
    includeThoughts: bool


class GenerationConfig(TypedDict, total=False):
    maxOutputTokens: int
    temperature: float
    topP: float
    topK: int
    stopSequences: list[str]
    responseMimeType: str
    responseSchema: dict[str, Any]
    thinkingConfig: ThinkingConfig


class SafetySetting(TypedDict, total=False):
    category: str
    threshold: str


class GenerateContentRequest(TypedDict, total=False):
    contents: list[Content]
    systemInstruction: Content
    tools: list[Tool]
    toolConfig: ToolConfig
    generationConfig: GenerationConfig
    safetySettings: list[SafetySetting]


class UsageMetadata(TypedDict, total=False):
    promptTokenCount: int
    candidatesTokenCount: int
    cachedContentTokenCount: int
    thoughtsTokenCount: int
    toolUsePromptTokenCount: int
    totalTokenCount: int


class Candidate(TypedDict, total=False):
    content: Content
    finishReason: str
    finishMessage: str
    index: int


class PromptFeedback(TypedDict, total=False):
    blockReason: str
    blockReasonMessage: str


class GenerateContentResponse(TypedDict, total=False):
    candidates: list[Candidate]
    promptFeedback: PromptFeedback
    usageMetadata: UsageMetadata
    modelVersion: str
    responseId: str


class CodeAssistRequest(TypedDict, total=False):
    model: str
    project: str
    user_prompt_id: str
    request: GenerateContentRequest
