"""A faithful in-process mock of the Gemini API in its three shapes, plus Google's OAuth token endpoint.

Use it from async tests::

    async with MockGemini(api_key="k") as mock:
        ...
        assert mock.generate_requests()[0].json["contents"]

or standalone: ``python -m tests.mocks.gemini --port 0 --api-key K`` (prints ``LISTENING <port>``).

Endpoints:

  POST /v1beta/models/{model}:generateContent | :streamGenerateContent?alt=sse | :countTokens
       AI Studio: ``x-goog-api-key`` must equal ``api_key``; a ``?key=`` in the URL is refused.
  POST /v1/projects/{project}/locations/{location}/publishers/google/models/{model}:{method}
       Vertex AI: a bearer this mock minted, the project in ``projects``; the location must match the host
       shape the router uses (not checked on 127.0.0.1, recorded).
  POST /v1internal:{generateContent|streamGenerateContent|countTokens|loadCodeAssist|onboardUser}
       Code Assist: a minted bearer; ``{model, project, request}`` in, ``{response}`` out (each SSE event too).
  POST /token    Google's token endpoint (and STS): ``token-exchange`` (workload identity federation: a known
       ``subject_token``), ``jwt-bearer`` (the JWT signature is verified with the registered
       service-account public key, ``aud``/``iss``/``exp``/``scope`` checked), ``refresh_token`` (no new refresh
       token is returned, like Google), ``authorization_code`` (PKCE S256 and ``client_secret`` checked).
  GET  /o/oauth2/v2/auth   approves at once: redirects to ``redirect_uri`` with ``code`` and ``state``.

Requests are validated like the real API (:mod:`tests.mocks.gemini_check`), so the mock checks the translator.
For ``gemini-3`` models, the first function call of each model turn in the history must carry a thought
signature the mock issued (or Google's documented dummy values).

Replies are planned from the request: function responses in the last user turn -> ``TOOL_RESULT: ...``; a
backticked `` `echo ...` `` with ``Bash`` declared -> a ``Bash`` function call; "Reply with exactly: X" -> X;
``BLOCK_ME`` -> finishReason SAFETY with no text; ``BLOCK_PROMPT`` -> ``promptFeedback.blockReason``;
``responseSchema`` -> a sample JSON; thoughts first when ``includeThoughts``. Faults: ``status`` (429 carries
``RetryInfo``), ``error_event`` (an error as the first SSE event), ``malformed_call``, ``drop_mid`` (the
connection closes after the first event).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import re
import secrets
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.mocks.gemini_check import validate_gemini_request
from tests.mocks.openai import sample_for_schema
from tests.mocks.serve import serve_until_stopped

THOUGHT_TEXT = "Let me think about this request step by step."
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
DUMMY_SIGNATURES = ("skip_thought_signature_validator", "context_engineering_is_the_way_to_go")
STS_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
_GEN = re.compile(r"^/v1beta/models/([^/:]+):(generateContent|streamGenerateContent|countTokens)$")
_VERTEX = re.compile(
    r"^/v1/projects/([^/]+)/locations/([^/]+)/publishers/google/models/([^/:]+):"
    r"(generateContent|streamGenerateContent|countTokens)$"
)
_CA = re.compile(r"^/v1internal:(\w+)$")


@dataclass
class Recorded:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    json: Any
    status: int = 0

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass
class Fault:
    kind: str  # status | error_event | malformed_call | drop_mid
    status: int = 429
    times: int = 1
    retry_delay: str = "7s"


@dataclass
class _Plan:
    text: str | None = None
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    thought: str | None = None
    finish: str = "STOP"
    blocked: str | None = None


def _b64url(data: str) -> bytes:
    return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))


def _prompt(contents: list[dict[str, Any]]) -> str:
    for c in reversed(contents):
        if c.get("role") == "user":
            text = "".join(p.get("text", "") for p in c.get("parts", []) if isinstance(p, dict))
            text = re.sub(r"<system-reminder>.*?</system-reminder>", "", text, flags=re.S).strip()
            if text:
                return text
    return ""


def plan(body: dict[str, Any], default_text: str) -> _Plan:
    contents = body.get("contents") or []
    decls = {d["name"]: d for t in body.get("tools") or [] for d in t.get("functionDeclarations") or []}
    gen = body.get("generationConfig") or {}
    fcc = (body.get("toolConfig") or {}).get("functionCallingConfig") or {}
    out = _Plan(text=default_text)
    last = contents[-1] if contents else {}
    responses = [p["functionResponse"] for p in last.get("parts", []) if "functionResponse" in p]
    prompt = _prompt(contents)
    echo = re.search(r"`(echo [^`\n]+)`", prompt)
    exact = re.search(r"Reply with exactly:\s*(.+)", prompt)
    if "BLOCK_PROMPT" in prompt:
        return _Plan(blocked="SAFETY")
    if "BLOCK_ME" in prompt:
        return _Plan(text=None, finish="SAFETY")
    if "responseSchema" in gen:
        out.text = json.dumps(sample_for_schema(gen["responseSchema"]))
    elif responses and last.get("role") == "user":
        parts = []
        for r in responses:
            resp = r["response"]
            parts.append("ERROR " + str(resp["error"]) if "error" in resp else str(resp.get("output", "")))
        out.text = "TOOL_RESULT: " + " | ".join(parts)
    elif echo and "Bash" in decls and fcc.get("mode") != "NONE":
        out = _Plan(
            "I'll run that command.", [("Bash", {"command": echo.group(1), "description": "Run the requested echo"})]
        )
    elif fcc.get("mode") == "ANY" and decls:
        name = (fcc.get("allowedFunctionNames") or list(decls))[0]
        out = _Plan(None, [(name, sample_for_schema(decls[name].get("parameters") or {"type": "object"}) or {})])
    elif exact:
        out.text = exact.group(1).strip().splitlines()[0]
    if (gen.get("thinkingConfig") or {}).get("includeThoughts"):
        out.thought = THOUGHT_TEXT
    limit = gen.get("maxOutputTokens")
    if out.text and isinstance(limit, int) and len(out.text) > limit * 4:
        out.text, out.finish = out.text[: limit * 4], "MAX_TOKENS"
    return out


class MockGemini:
    """See the module docstring."""

    def __init__(
        self,
        name: str = "gemini",
        *,
        api_key: str | None = None,
        chunks: int = 3,
        text: str | None = None,
        cached_tokens: int = 0,
        projects: Sequence[str] = ("mock-project",),
        code_assist_project: str = "ca-project-1",
        onboarded: bool = True,
        client_secret: str = "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",
        token_lifetime_s: int = 3600,
    ) -> None:
        self.name = name
        self.api_key = api_key
        self.chunks = max(1, chunks)
        self.text = text if text is not None else f"Hello from {name}."
        self.cached_tokens = cached_tokens
        self.projects = set(projects)
        self.code_assist_project = code_assist_project
        self.onboarded = onboarded
        self.client_secret = client_secret
        self.token_lifetime_s = token_lifetime_s
        self.requests: list[Recorded] = []
        self.faults: list[Fault] = []
        self.access_tokens: dict[str, float] = {}
        self.refresh_tokens: set[str] = set()
        self.service_accounts: dict[str, rsa.RSAPublicKey] = {}
        self.jwt_claims: list[dict[str, Any]] = []
        self.subject_tokens: set[str] = set()
        self.signatures_issued: set[str] = set()  # external (OIDC) tokens the STS endpoint accepts
        self.token_grants: list[str] = []
        self._codes: dict[str, tuple[str, str]] = {}  # code -> (challenge, redirect_uri)
        self._onboard_polls = 0
        self.url = ""
        self.port = 0
        self._runner: web.AppRunner | None = None

    # ---- lifecycle ---------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
        sock.setblocking(False)
        await web.SockSite(runner, sock).start()
        self._runner = runner
        self.port = int(sock.getsockname()[1])
        self.url = f"http://{host}:{self.port}"
        return self.url

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> MockGemini:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ---- test helpers ------------------------------------------------------------------------

    def mint_access_token(self) -> str:
        token = "ya29.mock-" + secrets.token_urlsafe(24)
        self.access_tokens[token] = time.time() + self.token_lifetime_s
        return token

    def mint_refresh_token(self) -> str:
        token = "1//mock-" + secrets.token_urlsafe(24)
        self.refresh_tokens.add(token)
        return token

    def register_service_account(self, email: str, public_key: rsa.RSAPublicKey) -> None:
        self.service_accounts[email] = public_key

    def generate_requests(self) -> list[Recorded]:
        return [r for r in self.requests if re.search(r":(generate|streamGenerate)Content$", r.path)]

    # ---- plumbing ----------------------------------------------------------------------------

    def _error(
        self, rec: Recorded, status: int, message: str, gstatus: str, details: list[Any] | None = None
    ) -> web.Response:
        rec.status = status
        err: dict[str, Any] = {"code": status, "message": message, "status": gstatus}
        if details:
            err["details"] = details
        return web.json_response({"error": err}, status=status)

    def _bearer_ok(self, rec: Recorded) -> bool:
        auth = rec.header("authorization") or ""
        token = auth[7:] if auth.startswith("Bearer ") else ""
        return self.access_tokens.get(token, 0) > time.time()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body: Any = json.loads(raw) if raw and request.content_type == "application/json" else None
        except ValueError:
            body = None
        rec = Recorded(
            request.method, request.path, request.query_string, {k.lower(): v for k, v in request.headers.items()}, body
        )
        self.requests.append(rec)
        if request.path == "/token":
            return await self._token(request, rec)
        if request.path == "/o/oauth2/v2/auth":
            return self._authorize(request, rec)
        if "key" in request.query:
            return self._error(rec, 400, "API keys in the URL are refused by this mock", "INVALID_ARGUMENT")
        if m := _GEN.match(request.path):
            if self.api_key is None or rec.header("x-goog-api-key") != self.api_key:
                info = {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}
                return self._error(
                    rec, 400, "API key not valid. Please pass a valid API key.", "INVALID_ARGUMENT", [info]
                )
            return await self._model_call(request, rec, m.group(2), body, wrapped=False, model=m.group(1))
        if m := _VERTEX.match(request.path):
            if not self._bearer_ok(rec):
                return self._error(rec, 401, "Request had invalid authentication credentials.", "UNAUTHENTICATED")
            if m.group(1) not in self.projects:
                return self._error(rec, 403, f"Permission denied on project {m.group(1)}", "PERMISSION_DENIED")
            return await self._model_call(request, rec, m.group(4), body, wrapped=False, model=m.group(3))
        if m := _CA.match(request.path):
            if not self._bearer_ok(rec):
                return self._error(rec, 401, "Request had invalid authentication credentials.", "UNAUTHENTICATED")
            return await self._code_assist(request, rec, m.group(1), body)
        return self._error(rec, 404, f"no such path {request.path}", "NOT_FOUND")

    # ---- OAuth -------------------------------------------------------------------------------

    def _authorize(self, request: web.Request, rec: Recorded) -> web.Response:
        q = request.query
        if q.get("code_challenge_method") != "S256" or not q.get("code_challenge") or q.get("access_type") != "offline":
            return self._error(rec, 400, "PKCE S256 and offline access required", "INVALID_ARGUMENT")
        code = "4/mock-" + secrets.token_urlsafe(16)
        self._codes[code] = (q["code_challenge"], q.get("redirect_uri", ""))
        rec.status = 302
        raise web.HTTPFound(q.get("redirect_uri", "") + "?" + urlencode({"code": code, "state": q.get("state", "")}))

    def _token_error(self, rec: Recorded, status: int, error: str, desc: str) -> web.Response:
        rec.status = status
        return web.json_response({"error": error, "error_description": desc}, status=status)

    async def _token(self, request: web.Request, rec: Recorded) -> web.Response:
        form = await request.post()
        rec.json = {
            k: ("<redacted>" if k in ("assertion", "refresh_token", "code", "code_verifier") else v)
            for k, v in form.items()
        }
        grant = str(form.get("grant_type", ""))
        self.token_grants.append(grant)
        out: dict[str, Any] = {"token_type": "Bearer", "expires_in": self.token_lifetime_s}
        if grant == JWT_GRANT:
            err = self._check_jwt(str(form.get("assertion", "")))
            if err:
                return self._token_error(rec, 400, "invalid_grant", err)
        elif grant == STS_GRANT:  # workload identity federation: an external token for a Google one
            if form.get("subject_token") not in self.subject_tokens or not form.get("audience"):
                return self._token_error(rec, 400, "invalid_grant", "The subject token is invalid.")
            out["issued_token_type"] = "urn:ietf:params:oauth:token-type:access_token"
        elif grant == "refresh_token":
            if form.get("client_secret") != self.client_secret:
                return self._token_error(rec, 401, "invalid_client", "Unauthorized")
            if form.get("refresh_token") not in self.refresh_tokens:
                return self._token_error(rec, 400, "invalid_grant", "Token has been expired or revoked.")
        elif grant == "authorization_code":
            if form.get("client_secret") != self.client_secret:
                return self._token_error(rec, 401, "invalid_client", "Unauthorized")
            found = self._codes.pop(str(form.get("code", "")), None)
            verifier = str(form.get("code_verifier", ""))
            challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
            if found is None or found[0] != challenge or found[1] != form.get("redirect_uri"):
                return self._token_error(rec, 400, "invalid_grant", "Malformed auth code.")
            out["refresh_token"] = self.mint_refresh_token()
        else:
            return self._token_error(rec, 400, "unsupported_grant_type", "Invalid grant_type")
        out["access_token"] = self.mint_access_token()
        rec.status = 200
        return web.json_response(out)

    def _check_jwt(self, assertion: str) -> str | None:
        try:
            head_b, claims_b, sig_b = assertion.split(".")
            header, claims = json.loads(_b64url(head_b)), json.loads(_b64url(claims_b))
        except ValueError:
            return "malformed JWT"
        if header.get("alg") != "RS256":
            return "alg must be RS256"
        key = self.service_accounts.get(str(claims.get("iss")))
        if key is None:
            return "unknown service account"
        try:
            key.verify(_b64url(sig_b), f"{head_b}.{claims_b}".encode(), padding.PKCS1v15(), hashes.SHA256())
        except Exception:
            return "Invalid JWT Signature."
        now = time.time()
        if not (claims.get("iat", 0) - 60 <= now <= claims.get("exp", 0)):
            return "JWT expired"
        # google-auth always addresses the assertion to Google's token endpoint, whatever token_uri says.
        if claims.get("aud") != "https://oauth2.googleapis.com/token":
            return "bad audience"
        if "cloud-platform" not in str(claims.get("scope", "")):
            return "scope missing"
        self.jwt_claims.append(claims)
        return None

    # ---- Code Assist ---------------------------------------------------------------------------

    async def _code_assist(self, request: web.Request, rec: Recorded, method: str, body: Any) -> web.StreamResponse:
        if not isinstance(body, dict):
            return self._error(rec, 400, "Invalid JSON payload received.", "INVALID_ARGUMENT")
        if method == "loadCodeAssist":
            rec.status = 200
            if self.onboarded:
                return web.json_response(
                    {"currentTier": {"id": "free-tier"}, "cloudaicompanionProject": self.code_assist_project}
                )
            return web.json_response(
                {"allowedTiers": [{"id": "free-tier", "isDefault": True}, {"id": "standard-tier"}]}
            )
        if method == "onboardUser":
            rec.status = 200
            if body.get("tierId") != "free-tier" or not isinstance(body.get("metadata"), dict):
                return self._error(rec, 400, "tierId and metadata required", "INVALID_ARGUMENT")
            self._onboard_polls += 1
            if self._onboard_polls < 2:
                return web.json_response({"name": "operations/onboard-1", "done": False})
            self.onboarded = True
            return web.json_response(
                {
                    "name": "operations/onboard-1",
                    "done": True,
                    "response": {"cloudaicompanionProject": {"id": self.code_assist_project}},
                }
            )
        if method == "countTokens":
            inner = body.get("request")
            if (
                not isinstance(inner, dict)
                or set(body) != {"request"}
                or not str(inner.get("model", "")).startswith("models/")
            ):
                return self._error(rec, 400, "countTokens takes {request: {model, contents}}", "INVALID_ARGUMENT")
            return await self._model_call(request, rec, method, {"contents": inner.get("contents")}, wrapped=True)
        if method not in ("generateContent", "streamGenerateContent"):
            return self._error(rec, 404, f"unknown method {method}", "NOT_FOUND")
        if set(body) - {"model", "project", "request", "user_prompt_id"} or not isinstance(body.get("request"), dict):
            return self._error(rec, 400, "Code Assist takes {model, project, request}", "INVALID_ARGUMENT")
        if body.get("project") != self.code_assist_project:
            return self._error(rec, 403, "The caller does not have permission", "PERMISSION_DENIED")
        return await self._model_call(request, rec, method, body["request"], wrapped=True, model=str(body.get("model")))

    # ---- models ------------------------------------------------------------------------------

    def _take_fault(self) -> Fault | None:
        for f in self.faults:
            if f.times > 0:
                f.times -= 1
                return f
        return None

    def _usage(self, body: Any, p: _Plan, final: bool) -> dict[str, Any]:
        prompt = max(1, len(json.dumps(body)) // 4)
        usage: dict[str, Any] = {"promptTokenCount": prompt}
        if self.cached_tokens:
            usage["cachedContentTokenCount"] = min(self.cached_tokens, prompt)
        if final:
            chars = len(p.text or "") + sum(len(json.dumps(a)) for _, a in p.calls)
            usage["candidatesTokenCount"] = max(1, chars // 4)
            if p.thought:
                usage["thoughtsTokenCount"] = len(p.thought) // 4
            usage["totalTokenCount"] = prompt + usage["candidatesTokenCount"] + usage.get("thoughtsTokenCount", 0)
        return usage

    def _check_signatures(self, body: dict[str, Any]) -> str | None:
        """Gemini 3: the first function call of every model turn must carry a signature (Gemini's or the dummy)."""
        for i, c in enumerate(body.get("contents") or []):
            calls = [p for p in c.get("parts", []) if "functionCall" in p]
            if c.get("role") == "model" and calls:
                sig = calls[0].get("thoughtSignature")
                if sig not in self.signatures_issued and sig not in DUMMY_SIGNATURES:
                    return f"Function call is missing a thought_signature in functionCall parts (contents[{i}])."
        return None

    async def _model_call(
        self, request: web.Request, rec: Recorded, method: str, body: Any, *, wrapped: bool, model: str = ""
    ) -> web.StreamResponse:
        if method == "countTokens":
            contents = body.get("contents") if isinstance(body, dict) else None
            if isinstance(body, dict) and "generateContentRequest" in body:
                contents = body["generateContentRequest"].get("contents")
            if not isinstance(contents, list):
                return self._error(rec, 400, "contents required", "INVALID_ARGUMENT")
            rec.status = 200
            out = {"totalTokens": max(1, len(json.dumps(body)) // 4)}
            return web.json_response({"response": out} if wrapped else out)
        err = validate_gemini_request(body)
        if not err and "gemini-3" in model:
            err = self._check_signatures(body)
        if err:
            return self._error(rec, 400, err, "INVALID_ARGUMENT")
        fault = self._take_fault()
        if fault is not None and fault.kind == "status":
            details = None
            if fault.status == 429:
                details = [
                    {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": []},
                    {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": fault.retry_delay},
                ]
            message = "Resource has been exhausted (e.g. check quota)." if fault.status == 429 else "mock failure"
            gstatus = "RESOURCE_EXHAUSTED" if fault.status == 429 else "UNAVAILABLE"
            return self._error(rec, fault.status, message, gstatus, details)
        p = plan(body, self.text)
        if fault is not None and fault.kind == "malformed_call":
            p = _Plan(text=None, finish="MALFORMED_FUNCTION_CALL")
        events = self._events(body, p)
        rec.status = 200
        if method == "generateContent":
            merged = self._merge(events)
            return web.json_response({"response": merged} if wrapped else merged)
        resp = web.StreamResponse(headers={"content-type": "text/event-stream", "x-mock-name": self.name})
        await resp.prepare(request)
        if fault is not None and fault.kind == "error_event":
            err_obj = {"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}
            await resp.write(b"data: " + json.dumps(err_obj).encode() + b"\r\n\r\n")
            return resp
        for ev in events:
            payload = {"response": ev} if wrapped else ev
            await resp.write(b"data: " + json.dumps(payload, ensure_ascii=False).encode() + b"\r\n\r\n")
            if fault is not None and fault.kind == "drop_mid" and request.transport is not None:
                await asyncio.sleep(0.05)
                request.transport.close()  # the connection dies mid-answer
                return resp
        await resp.write_eof()
        return resp

    def _events(self, body: Any, p: _Plan) -> list[dict[str, Any]]:
        rid = "mock-" + secrets.token_hex(6)
        if p.blocked:
            return [
                {
                    "promptFeedback": {"blockReason": p.blocked},
                    "usageMetadata": self._usage(body, p, True),
                    "responseId": rid,
                }
            ]
        parts: list[dict[str, Any]] = []
        if p.thought:
            parts.append({"text": p.thought, "thought": True})
        text = p.text or ""
        n = min(self.chunks, max(1, len(text)))
        size = -(-len(text) // n) if text else 0
        parts += [{"text": text[i : i + size]} for i in range(0, len(text), size)] if text else []
        for name, args in p.calls:
            part: dict[str, Any] = {"functionCall": {"name": name, "args": args}}
            if not any("functionCall" in x for x in parts):  # Gemini signs the first call of a turn
                part["thoughtSignature"] = base64.b64encode(secrets.token_bytes(24)).decode()
                self.signatures_issued.add(part["thoughtSignature"])
            parts.append(part)
        events: list[dict[str, Any]] = []
        for i, part in enumerate(parts or [None]):
            cand: dict[str, Any] = {"index": 0}
            if part is not None:
                cand["content"] = {"role": "model", "parts": [part]}
            last = i == max(len(parts), 1) - 1
            if last:
                cand["finishReason"] = p.finish
            events.append(
                {
                    "candidates": [cand],
                    "usageMetadata": self._usage(body, p, last),
                    "modelVersion": "gemini-mock",
                    "responseId": rid,
                }
            )
        return events

    @staticmethod
    def _merge(events: list[dict[str, Any]]) -> dict[str, Any]:
        out = dict(events[-1])
        if "candidates" in out:
            parts = [
                pt for ev in events for c in ev.get("candidates", []) for pt in c.get("content", {}).get("parts", [])
            ]
            merged: list[dict[str, Any]] = []
            for pt in parts:  # the non-streamed answer carries each kind of text as one part
                if (
                    merged
                    and set(pt) <= {"text", "thought"}
                    and set(merged[-1]) <= {"text", "thought"}
                    and pt.get("thought") == merged[-1].get("thought")
                ):
                    merged[-1] = {**merged[-1], "text": merged[-1]["text"] + pt["text"]}
                else:
                    merged.append(pt)
            cand = dict(out["candidates"][0])
            if merged:
                cand["content"] = {"role": "model", "parts": merged}
            out["candidates"] = [cand]
        return out


def generate_service_account(
    token_uri: str, email: str = "ccm-test@mock-project.iam.gserviceaccount.com"
) -> tuple[dict[str, Any], rsa.RSAPublicKey]:
    """A service-account key file's JSON (a fresh RSA key) and its public key, for the mock to verify."""
    from cryptography.hazmat.primitives import serialization

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    info = {
        "type": "service_account",
        "project_id": "mock-project",
        "private_key_id": secrets.token_hex(20),
        "private_key": pem,
        "client_email": email,
        "client_id": "1234567890",
        "token_uri": token_uri,
    }
    return info, key.public_key()


async def _serve(args: argparse.Namespace) -> int:
    mock = MockGemini(api_key=args.api_key)
    return await serve_until_stopped(mock, args.host, args.port, args.max_seconds)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--api-key", default="gm-key")
    ap.add_argument("--max-seconds", type=float, default=3600)
    return asyncio.run(_serve(ap.parse_args(argv)))


if __name__ == "__main__":
    raise SystemExit(main())
