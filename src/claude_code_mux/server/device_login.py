"""The device-login page of the original Anthropic OAuth proxy: start, open the link, paste ``code#state``.

A signed, httpOnly session cookie ties the start and submit steps together (the pasted state must match the
one this browser started); the PKCE verifier stays on the server. Access is the admin API's (loopback or
``server.admin_key``) and ``/auth/*`` is rate-limited by the limits middleware.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import secrets

from aiohttp import web

from claude_code_mux.auth.login import DEFAULT_PROVIDER_ID
from claude_code_mux.errors import InvalidRequest, NotFound, OAuthError
from claude_code_mux.server.admin_guard import check_access, guard
from claude_code_mux.server.oauth_api import json_body, manager, ok, pending, required_str

COOKIE = "ccm_device_session"
SIGNING_KEY: web.AppKey[bytes] = web.AppKey("device_signing_key", bytes)

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>claude-code-mux · device login</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:15px/1.5 system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;color:#222}
button{font:inherit;padding:.4rem 1rem;cursor:pointer}input{font:inherit;width:100%;padding:.4rem}
#link a{word-break:break-all}.err{color:#b00020}.ok{color:#0a7a2f}code{background:#f3f3f3;padding:0 .2rem}
</style></head><body>
<h1>Log in to Claude (Pro/Max)</h1>
<p>Provider id: <code id="pid">__PID__</code></p>
<ol>
<li><button id="start">Start authorization</button></li>
<li id="link" hidden>Open <a target="_blank" rel="noopener noreferrer"></a> and approve access.</li>
<li>Paste the code shown on the page (it looks like <code>code#state</code>):
<form id="submit"><input id="code" autocomplete="off" placeholder="code#state"> <button>Submit</button></form></li>
</ol>
<p id="msg" role="status"></p>
<h2>Status</h2><pre id="status">…</pre>
<p class="note">Using a subscription through a third-party tool may be restricted by the provider's terms;
you decide.</p>
<script>
const pid = document.getElementById('pid').textContent;
const msg = (t, cls) => { const m = document.getElementById('msg'); m.textContent = t; m.className = cls || ''; };
async function call(path, body) {
  const r = await fetch(path, {method: 'POST', headers: {'content-type': 'application/json'},
                               body: JSON.stringify(body || {}), credentials: 'same-origin'});
  const data = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error((data.error && data.error.message) || r.statusText);
  return data;
}
async function status() {
  const r = await fetch('/auth/status', {credentials: 'same-origin'});
  document.getElementById('status').textContent = JSON.stringify(await r.json(), null, 2);
}
document.getElementById('start').onclick = async () => {
  try {
    const d = await call('/auth/device/start', {provider_id: pid});
    const li = document.getElementById('link'); li.hidden = false;
    const a = li.querySelector('a'); a.href = d.url; a.textContent = d.url;
    msg(d.instructions);
  } catch (e) { msg(e.message, 'err'); }
};
document.getElementById('submit').onsubmit = async (ev) => {
  ev.preventDefault();
  try {
    const d = await call('/auth/device/submit', {code: document.getElementById('code').value});
    msg('Logged in: ' + d.provider_id + ' (token expires ' + d.expires_at + ')', 'ok');
    document.getElementById('code').value = '';
    status();
  } catch (e) { msg(e.message, 'err'); }
};
status();
</script></body></html>
"""


def _sign(key: bytes, value: str) -> str:
    return value + "." + hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


def _unsign(key: bytes, signed: str | None) -> str | None:
    if not signed or "." not in signed:
        return None
    value, _, sig = signed.rpartition(".")
    good = hmac.new(key, value.encode(), hashlib.sha256).hexdigest()
    return value if hmac.compare_digest(sig, good) else None


async def page(request: web.Request) -> web.Response:
    check_access(request)
    pid = request.query.get("provider", DEFAULT_PROVIDER_ID)[:100]
    body = PAGE.replace("__PID__", html.escape(pid))
    return web.Response(
        text=body,
        content_type="text/html",
        headers={
            "content-security-policy": "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'",
            "cache-control": "no-store",
        },
    )


async def start(request: web.Request) -> web.Response:
    guard(request)
    data = await json_body(request)
    pid = required_str(data, "provider_id", DEFAULT_PROVIDER_ID)
    try:
        started = pending(request).start("max", pid)
    except OAuthError as exc:
        raise InvalidRequest(str(exc)) from None
    resp = ok({"url": started["url"], "instructions": started["instructions"]})
    resp.set_cookie(
        COOKIE,
        _sign(request.app[SIGNING_KEY], started["state"]),
        httponly=True,
        samesite="Strict",
        path="/auth",
        max_age=600,
        secure=request.secure,
    )
    return resp


async def submit(request: web.Request) -> web.Response:
    guard(request)
    data = await json_body(request)
    code = required_str(data, "code")
    state = _unsign(request.app[SIGNING_KEY], request.cookies.get(COOKIE))
    if state is None:
        raise InvalidRequest('no login in progress in this browser: press "Start authorization" first')
    try:
        record = await pending(request).complete(code, state)
    except OAuthError as exc:
        raise InvalidRequest(str(exc)) from None
    resp = ok(
        {
            "success": True,
            "provider_id": record.provider_id,
            "expires_at": record.expires_at.isoformat().replace("+00:00", "Z"),
        }
    )
    resp.del_cookie(COOKIE, path="/auth")
    return resp


async def status(request: web.Request) -> web.Response:
    check_access(request)
    return ok(await manager(request).status())


async def refresh(request: web.Request) -> web.Response:
    guard(request)
    data = await json_body(request)
    pid = required_str(data, "provider_id", DEFAULT_PROVIDER_ID)
    mgr = manager(request)
    record = await mgr.store.get(pid)
    if record is None:
        raise NotFound(f"no OAuth login for {pid!r}")
    try:
        await mgr.force_refresh(pid, record.access_token.reveal())
    except OAuthError as exc:
        raise InvalidRequest(str(exc)) from None
    return ok({"success": True, "provider_id": pid})


async def logout(request: web.Request) -> web.Response:
    guard(request)
    data = await json_body(request)
    pid = required_str(data, "provider_id", DEFAULT_PROVIDER_ID)
    removed = await manager(request).delete(pid)
    resp = ok({"success": removed, "provider_id": pid})
    resp.del_cookie(COOKIE, path="/auth")
    return resp


def setup(app: web.Application) -> None:
    app[SIGNING_KEY] = secrets.token_bytes(32)
    r = app.router
    r.add_get("/auth/device", page)
    r.add_post("/auth/device/start", start)
    r.add_post("/auth/device/submit", submit)
    r.add_get("/auth/status", status)
    r.add_post("/auth/refresh", refresh)
    r.add_post("/auth/logout", logout)
