// The REST API, as the dashboard calls it: JSON in and out, the token from session storage,
// and a prompt for a token when the server answers 401.

const TOKEN_KEY = "scheduler.token";

/** An error the API answered with: its status and the body's code, field and message. */
export class ApiError extends Error {
  constructor(status, detail) {
    super(detail.message || `HTTP ${status}`);
    this.status = status;
    this.code = detail.code || "error";
    this.field = detail.field || null;
  }
}

export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function forgetToken() {
  sessionStorage.removeItem(TOKEN_KEY);
}

let pendingPrompt = null;

// One prompt at a time, however many requests got a 401.
function askForToken(message) {
  if (pendingPrompt) return pendingPrompt;
  const dialog = document.getElementById("token-dialog");
  const input = document.getElementById("token-input");
  const error = document.getElementById("token-error");
  error.textContent = message || "";
  input.value = "";
  pendingPrompt = new Promise((resolve) => {
    dialog.addEventListener(
      "close",
      () => {
        pendingPrompt = null;
        const text = input.value.trim();
        if (text) sessionStorage.setItem(TOKEN_KEY, text);
        document.dispatchEvent(new CustomEvent("token-changed"));
        resolve(Boolean(text));
      },
      { once: true },
    );
    dialog.showModal();
  });
  return pendingPrompt;
}

/**
 * Calls the API: `path` from the origin, `options.body` sent as JSON. Returns the parsed
 * JSON (or null for 204); throws ApiError on an error status.
 */
export async function api(path, options = {}) {
  for (let attempt = 0; ; attempt++) {
    const headers = { Accept: "application/json" };
    // The server refuses a change without a token unless it says JSON (a cross-site form
    // cannot), so every change says it, with a body or not.
    if (options.body !== undefined || (options.method && options.method !== "GET")) {
      headers["Content-Type"] = "application/json";
    }
    if (options.ifMatch !== undefined) headers["If-Match"] = `"${options.ifMatch}"`;
    const saved = token();
    if (saved) headers.Authorization = `Bearer ${saved}`;
    const response = await fetch(path, {
      method: options.method || "GET",
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      cache: "no-store",
    });
    if (response.status === 204) return null;
    let body = null;
    const text = await response.text();
    try {
      body = text ? JSON.parse(text) : null;
    } catch {
      body = null;
    }
    if (response.ok) return body;
    const detail = (body && body.error) || { message: text || response.statusText };
    if (response.status === 401 && attempt < 3) {
      if (saved) forgetToken();
      const given = await askForToken(saved ? detail.message : "");
      if (given) continue;
    }
    throw new ApiError(response.status, detail);
  }
}
