"""Where a Gemini request goes and how it is authenticated: AI Studio key, Vertex AI, or Code Assist login.

A target turns (model, method, translated request) into (URL, auth headers, body). The three differ only here:

- :class:`ApiKeyTarget`: ``{base}/models/{model}:{method}`` with ``x-goog-api-key`` (never in the URL).
- :class:`VertexTarget`: ``https://{location}-aiplatform.googleapis.com/v1/projects/{project}/locations/
  {location}/publishers/google/models/{model}:{method}`` (``aiplatform.googleapis.com`` for ``global``) with a
  bearer token from ``google-auth``.
- :class:`CodeAssistTarget`: ``{base}/v1internal:{method}`` with the Gemini CLI login's bearer token; the
  request is wrapped as ``{model, project, request}`` and answers come back as ``{response}``.

``rejected`` is the token a 401 just refused: the target refreshes once (key targets cannot).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from claude_code_mux.auth.gemini_tokens import GeminiCliTokens
from claude_code_mux.auth.google import GoogleCredentials
from claude_code_mux.errors import AuthenticationFailed
from claude_code_mux.wire.gemini import GenerateContentRequest


@dataclass(frozen=True, slots=True)
class Prepared:
    url: str
    headers: dict[str, str]
    body: dict[str, Any]
    token: str | None = None  # the bearer sent, for a forced refresh after a 401


def _query(method: str) -> str:
    return "?alt=sse" if method == "streamGenerateContent" else ""


def _count_fields(req: GenerateContentRequest) -> dict[str, Any]:
    return {k: v for k, v in req.items() if k in ("contents", "systemInstruction", "tools")}


class GeminiTarget(Protocol):
    refreshable: bool

    async def prepare(
        self, model: str, method: str, req: GenerateContentRequest, rejected: str | None = None
    ) -> Prepared: ...


class ApiKeyTarget:
    refreshable = False

    def __init__(self, base_url: str, key: str | None) -> None:
        self.base_url = base_url.rstrip("/")
        self._key = key

    def __repr__(self) -> str:
        return f"ApiKeyTarget({self.base_url!r})"

    async def prepare(
        self, model: str, method: str, req: GenerateContentRequest, rejected: str | None = None
    ) -> Prepared:
        headers = {"x-goog-api-key": self._key} if self._key else {}
        body: dict[str, Any] = dict(req)
        if method == "countTokens":
            body = {"generateContentRequest": {"model": f"models/{model}", **_count_fields(req)}}
        return Prepared(f"{self.base_url}/models/{model}:{method}{_query(method)}", headers, body)


def vertex_base_url(location: str) -> str:
    return (
        "https://aiplatform.googleapis.com" if location == "global" else f"https://{location}-aiplatform.googleapis.com"
    )


class VertexTarget:
    refreshable = True

    def __init__(self, base_url: str | None, project: str | None, location: str, creds: GoogleCredentials) -> None:
        self.base_url = (base_url or vertex_base_url(location)).rstrip("/")
        self.project = project
        self.location = location
        self.creds = creds

    def __repr__(self) -> str:
        return f"VertexTarget({self.base_url!r}, project={self.project!r}, location={self.location!r})"

    async def prepare(
        self, model: str, method: str, req: GenerateContentRequest, rejected: str | None = None
    ) -> Prepared:
        token = await (self.creds.force_refresh(rejected) if rejected else self.creds.token())
        project = self.project or self.creds.project_id
        if not project:
            raise AuthenticationFailed('no Google Cloud project: set project = "..." on the vertex-ai provider')
        path = f"/v1/projects/{project}/locations/{self.location}/publishers/google/models/{model}:{method}"
        body: dict[str, Any] = _count_fields(req) if method == "countTokens" else dict(req)
        return Prepared(self.base_url + path + _query(method), {"authorization": f"Bearer {token}"}, body, token)


class CodeAssistTarget:
    refreshable = True

    def __init__(self, base_url: str, tokens: GeminiCliTokens) -> None:
        self.base_url = base_url.rstrip("/")
        self.tokens = tokens

    def __repr__(self) -> str:
        return f"CodeAssistTarget({self.base_url!r})"

    async def prepare(
        self, model: str, method: str, req: GenerateContentRequest, rejected: str | None = None
    ) -> Prepared:
        token, project = await self.tokens.credentials(rejected)
        body: dict[str, Any]
        if method == "countTokens":
            body = {"request": {"model": f"models/{model}", "contents": req.get("contents", [])}}
        else:
            body = {"model": model, "project": project, "request": dict(req)}
        url = f"{self.base_url}/v1internal:{method}{_query(method)}"
        return Prepared(url, {"authorization": f"Bearer {token}"}, body, token)
