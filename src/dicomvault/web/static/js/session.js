// The signed-in user: tokens from /api/auth/login kept in sessionStorage (gone when the
// tab closes), who the user is from /api/auth/me, refresh and logout as the server does them.

const KEY = "dicomvault.session";
const listeners = new Set();

function load() {
  try { return JSON.parse(sessionStorage.getItem(KEY) || "null"); } catch (_) { return null; }
}

function store(value) {
  if (value) sessionStorage.setItem(KEY, JSON.stringify(value));
  else sessionStorage.removeItem(KEY);
  for (const listener of listeners) listener(value);
}

async function post(path, body) {
  return fetch(path, { method: "POST", credentials: "omit", cache: "no-store",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify(body) });
}

let refreshing = null;

export const session = {
  /** Called with the new session (or null) on login, refresh and logout. */
  onChange(listener) { listeners.add(listener); },

  accessToken() { return load()?.access_token || null; },
  canRefresh() { return Boolean(load()?.refresh_token); },
  /** {name, roles, permissions, scope} from /api/auth/me, or null. */
  me() { return load()?.me || null; },
  can(permission) { return Boolean(load()?.me?.permissions?.includes(permission)); },

  /** Log in with a password; throws Error with the server's message on refusal. */
  async login(username, password) {
    const response = await post("/api/auth/login", { username, password });
    if (!response.ok) {
      let message = "Login failed";
      try { message = (await response.json()).reason || message; } catch (_) { /* keep */ }
      throw new Error(message);
    }
    const tokens = await response.json();
    const me = await (await fetch("/api/auth/me", { credentials: "omit", cache: "no-store",
      headers: { Authorization: `Bearer ${tokens.access_token}`, Accept: "application/json" },
    })).json();
    store({ access_token: tokens.access_token, refresh_token: tokens.refresh_token, me });
    return me;
  },

  /** Exchange the refresh token (spent by the server) for new tokens; false if refused. */
  async refresh() {
    if (!refreshing) {
      refreshing = (async () => {
        const current = load();
        if (!current?.refresh_token) return false;
        const response = await post("/api/auth/refresh", { refresh_token: current.refresh_token });
        if (!response.ok) return false;
        const tokens = await response.json();
        store({ ...current, access_token: tokens.access_token,
                refresh_token: tokens.refresh_token });
        return true;
      })().finally(() => { refreshing = null; });
    }
    return refreshing;
  },

  /** Log out: the server revokes the refresh token; the tab forgets both. */
  async logout() {
    const current = load();
    store(null);
    if (current?.refresh_token) {
      try { await post("/api/auth/logout", { refresh_token: current.refresh_token }); }
      catch (_) { /* already forgotten here */ }
    }
  },

  /** The server no longer accepts our token: forget it (the router shows the login). */
  expired() { if (load()) store(null); },
};
