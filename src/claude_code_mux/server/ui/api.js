// Talking to the server: JSON calls with the admin key (kept for this tab only) and an SSE body reader.

export function headers(extra) {
  const h = Object.assign({}, extra || {});
  const key = sessionStorage.getItem("ccm-admin-key");
  if (key) h["x-admin-key"] = key;
  return h;
}

export class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

// A body is sent only when there is one: body-less DELETE/POST carry no Content-Type.
export async function api(method, path, body) {
  const init = { method, headers: headers(), cache: "no-store" };
  if (method !== "GET" && body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, `cannot reach the server (${e.message})`);
  }
  const text = await resp.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (_) { data = null; }
  if (!resp.ok) {
    const msg = data && data.error && data.error.message ? data.error.message
      : `HTTP ${resp.status} ${resp.statusText}`;
    throw new ApiError(resp.status, resp.status === 404 && !(data && data.error) ? `${msg} (${path})` : msg);
  }
  return data;
}

// Read a text/event-stream response body, calling onEvent(name, data) per event (ends when the body ends or
// the fetch's AbortSignal fires).
export async function readSSE(resp, onEvent) {
  const reader = resp.body.getReader();
  const decoder = new TextDecoder();
  let buf = "";
  let name = "";
  let data = [];
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += decoder.decode(value, { stream: true });
    let idx;
    while ((idx = buf.search(/\r?\n/)) >= 0) {
      const line = buf.slice(0, idx);
      buf = buf.slice(idx + (buf[idx] === "\r" ? 2 : 1));
      if (line === "") {
        if (data.length) onEvent(name || "message", data.join("\n"));
        name = ""; data = [];
      } else if (line.startsWith(":")) {
        continue;
      } else if (line.startsWith("event:")) {
        name = line.slice(6).trim();
      } else if (line.startsWith("data:")) {
        data.push(line.slice(5).replace(/^ /, ""));
      }
    }
  }
}
