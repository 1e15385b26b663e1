// The dashboard's one way to the API: JSON calls and event streams, each
// with the token in the Authorization header (never in a URL). The token
// lives in the browser's storage: sessionStorage, or localStorage when the
// user asks to be remembered on this device.

const KEY = "llmhost.token";

export function token() {
  return sessionStorage.getItem(KEY) ?? localStorage.getItem(KEY);
}

export function setToken(value, remember) {
  clearToken();
  (remember ? localStorage : sessionStorage).setItem(KEY, value);
}

export function clearToken() {
  sessionStorage.removeItem(KEY);
  localStorage.removeItem(KEY);
}

/** An error answer of the API: `code` and `message` from its JSON body. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

function headers(extra) {
  const h = { Accept: "application/json", ...extra };
  const t = token();
  if (t) h.Authorization = `Bearer ${t}`;
  return h;
}

async function failure(response) {
  let code = `http_${response.status}`;
  let message = response.statusText;
  try {
    const body = await response.json();
    code = body.error?.code ?? code;
    message = body.error?.message ?? message;
  } catch {
    // Not our error shape: keep the status line.
  }
  if (response.status === 401) window.dispatchEvent(new CustomEvent("llmhost:unauthorized"));
  return new ApiError(response.status, code, message);
}

/** Calls the API; resolves with the JSON body, rejects with an ApiError. */
export async function api(path, { method = "GET", body, headers: extra } = {}) {
  const init = { method, headers: headers(extra) };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  const response = await fetch(path, init);
  if (!response.ok) throw await failure(response);
  return response.json();
}

/** A query string from an object, leaving out empty values. */
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== "") q.set(k, v);
  }
  const s = q.toString();
  return s ? `?${s}` : "";
}

/**
 * Follows a Server-Sent Events endpoint through fetch (EventSource cannot
 * send the Authorization header): calls onEvent(name, data) for each event,
 * data parsed from JSON. Resolves when the stream ends; stop it with
 * `signal`.
 */
export async function stream(path, onEvent, signal) {
  const response = await fetch(path, { headers: headers({ Accept: "text/event-stream" }), signal });
  if (!response.ok) throw await failure(response);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.search(/\r?\n\r?\n/)) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(buffer.slice(end).match(/^\r?\n\r?\n/)[0].length + end);
      let name = "message";
      const data = [];
      for (const line of block.split(/\r?\n/)) {
        if (line.startsWith("event:")) name = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
      }
      if (data.length === 0) continue; // a keep-alive comment
      let parsed = data.join("\n");
      try { parsed = JSON.parse(parsed); } catch { /* plain text */ }
      onEvent(name, parsed);
    }
  }
}
