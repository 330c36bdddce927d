// Every call to the server goes through here, with the user's bearer token: the UI has
// no private back door, it uses the public /api and /dicom-web endpoints (docs/web.md).

import { session } from "./session.js";

let breakGlassReason = null;

/**
 * Break the glass (emergency access beyond the user's scope) with a reason, or stop (null).
 * While set, every request carries X-Break-Glass-Reason; the server records each use.
 */
export function setBreakGlass(reason) {
  breakGlassReason = reason || null;
}

/** The reason in force, or null. */
export function breakGlass() {
  return breakGlassReason;
}

/** An HTTP error from the server: status and the server's message (never PHI). */
export class ApiError extends Error {
  constructor(status, message) {
    super(message || `HTTP ${status}`);
    this.status = status;
  }
}

async function errorOf(response) {
  let message = `${response.status} ${response.statusText}`;
  try {
    const body = await response.clone().json();
    if (body && typeof body.reason === "string") message = body.reason;
  } catch (_) { /* not JSON: keep the status line */ }
  if (response.status === 403) message = `Not allowed: ${message}`;
  return new ApiError(response.status, message);
}

/**
 * fetch() with the bearer token; one refresh and retry on 401, then back to the login.
 * Returns the Response (ok) or throws ApiError.
 */
export async function request(path, options = {}, retry = true) {
  const headers = new Headers(options.headers || {});
  const token = session.accessToken();
  if (token) headers.set("Authorization", `Bearer ${token}`);
  headers.set("X-Dicomvault-Door", "UI");
  if (breakGlassReason) headers.set("X-Break-Glass-Reason", breakGlassReason);
  const response = await fetch(path, { ...options, headers, credentials: "omit", cache: "no-store" });
  if (response.status === 401 && retry && session.canRefresh()) {
    if (await session.refresh()) return request(path, options, false);
  }
  if (response.status === 401) {
    session.expired();
    throw await errorOf(response);
  }
  if (!response.ok) throw await errorOf(response);
  return response;
}

/** GET (or other method) and parse JSON; 204 gives null. */
export async function json(path, options = {}) {
  const headers = { Accept: "application/json", ...(options.headers || {}) };
  const response = await request(path, { ...options, headers });
  if (response.status === 204) return null;
  return response.json();
}

/** Send a JSON body. */
export function send(method, path, body) {
  return json(path, { method, headers: { "Content-Type": "application/json" },
                      body: JSON.stringify(body ?? {}) });
}

/** QIDO-RS search (PS3.18 10.6): DICOM JSON. */
export function qido(path, params = {}) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    for (const item of [].concat(value)) if (item !== "" && item != null) query.append(key, item);
  }
  const suffix = query.toString() ? `?${query}` : "";
  return json(`/dicom-web/${path}${suffix}`, { headers: { Accept: "application/dicom+json" } });
}

/** A rendered image or thumbnail as a Blob (the request is recorded in the ledger). */
export async function image(path, accept = "image/jpeg") {
  const response = await request(path, { headers: { Accept: accept } });
  return response.blob();
}
