// Every call to the REST API goes through here: the token (if any) rides in a header, never in a URL.
const TOKEN_KEY = "videorec.token";

export class ApiError extends Error {
  constructor(status, detail) {
    super(typeof detail === "string" ? detail : `HTTP ${status}`);
    this.status = status;
    this.detail = detail;
  }
  // FastAPI's 422: {detail: [{loc: ["body", "uri_rtsp"], msg}]} -> {"uri_rtsp": "msg", "": "..."}
  fieldErrors() {
    const out = {};
    if (!Array.isArray(this.detail)) return { "": this.message };
    for (const item of this.detail) {
      const loc = (item.loc || []).filter((p) => p !== "body" && p !== "query");
      const key = loc.filter((p) => typeof p === "string").join(".");
      const msg = String(item.msg || "invalid").replace(/^Value error, /, "");
      out[key] = out[key] ? `${out[key]}; ${msg}` : msg;
    }
    return out;
  }
}

export const token = {
  get: () => sessionStorage.getItem(TOKEN_KEY),
  set: (value) => {
    copies.clear(); // another token may see other lists
    return value ? sessionStorage.setItem(TOKEN_KEY, value) : sessionStorage.removeItem(TOKEN_KEY);
  },
};

let onUnauthorized = () => {};
export function whenUnauthorized(fn) {
  onUnauthorized = fn;
}

function headers(extra = {}) {
  const h = { ...extra };
  const t = token.get();
  if (t) h.Authorization = `Bearer ${t}`;
  return h;
}

export async function call(method, path, { query, body, raw = false, signal, headers: extra } = {}) {
  const url = new URL(`/api/v1${path}`, location.origin);
  for (const [k, v] of Object.entries(query || {})) if (v !== undefined && v !== null && v !== "") url.searchParams.set(k, v);
  // no-store: the browser's own HTTP cache stays out of it; getCached keeps the copies it revalidates,
  // and a 304 must reach it as a 304 (the browser's cache would answer with its stored 200).
  const init = { method, headers: headers(extra), signal, credentials: "same-origin", cache: "no-store" };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const res = await fetch(url, init);
  if (res.status === 401) onUnauthorized();
  // 304 only answers an If-None-Match, which only getCached sends (and it asks for the raw answer).
  if (!res.ok && !(raw && res.status === 304)) {
    let detail = `HTTP ${res.status}`;
    try {
      detail = (await res.json()).detail ?? detail;
    } catch {
      /* not JSON: keep the status line */
    }
    throw new ApiError(res.status, detail);
  }
  if (raw) return res;
  const text = await res.text();
  return text ? JSON.parse(text) : null;
}

export const get = (path, query) => call("GET", path, { query });
// A list that pollers re-read: the copy kept from the last answer is named by its ETag, so an
// unchanged list costs a 304 with no body. The answer is then the very same object as before, which
// lets a view see that nothing changed and leave the page (and what the user is doing in it) alone.
// Lists without an ETag are read in full every time.
const MAX_COPIES = 64;
const copies = new Map(); // URL -> {etag, data}

export async function getCached(path, query) {
  const key = `${path}?${new URLSearchParams(Object.entries(query || {}).filter(([, v]) => v !== undefined && v !== null && v !== ""))}`;
  const copy = copies.get(key);
  const res = await call("GET", path, { query, raw: true, headers: copy ? { "If-None-Match": copy.etag } : {} });
  if (res.status === 304 && copy) return copy.data;
  const text = await res.text();
  const data = text ? JSON.parse(text) : null;
  const etag = res.headers.get("ETag");
  copies.delete(key);
  if (etag) {
    copies.set(key, { etag, data });
    if (copies.size > MAX_COPIES) copies.delete(copies.keys().next().value);
  }
  return data;
}

export const post = (path, body) => call("POST", path, { body });
export const put = (path, body, query) => call("PUT", path, { body, query });
export const del = (path, query) => call("DELETE", path, { query });

// <video>/<img> cannot send a header: without a token they use the URL; with one, the bytes are
// fetched here and handed over as a blob: URL (whole file; see the report on signed media URLs).
export function needsBlob() {
  return Boolean(token.get());
}

export async function mediaUrl(path, signal) {
  if (!needsBlob()) return `/api/v1${path}`;
  const res = await call("GET", path, { raw: true, signal });
  return URL.createObjectURL(await res.blob());
}

// A record's file for a <video> or a download. With a token, the control plane signs a short-lived URL
// to the file on its agent (/video_url): the browser streams and seeks it with ranges instead of
// holding the whole file as a blob. The URL expires, so a player asks again when the agent refuses it.
// An agent that serves no direct URLs (503) still gets the blob.
export async function recordMediaUrl(recordId, query, signal) {
  const path = `/record/${encodeURIComponent(recordId)}/video/?${new URLSearchParams(query)}`;
  if (!needsBlob()) return { url: `/api/v1${path}`, signed: false };
  try {
    const answer = await call("GET", `/record/${encodeURIComponent(recordId)}/video_url`, { signal });
    return { url: answer.url, signed: true };
  } catch (err) {
    if (!(err instanceof ApiError) || err.status !== 503) throw err;
    return { url: await mediaUrl(path, signal), signed: false };
  }
}
