// Users, roles, scopes (/api/users) and API tokens (/api/tokens); needs manage_users.
// A new token's secret is shown once, as the server returns it once.

import { json, send } from "../api.js";
import { field, h, replace, say } from "../dom.js";

const ROLES = ["admin", "clinician", "technologist", "researcher", "auditor", "service"];
const SCOPE_KEYS = [["institutions", "Institutions"], ["departments", "Departments"],
                    ["referring_physicians", "Referring physicians"]];

function list(text) {
  return text.split(",").map((s) => s.trim()).filter(Boolean);
}

function roleBoxes(prefix, selected = []) {
  return h("fieldset", { class: "toolbar" }, h("legend", {}, "Roles"),
    ROLES.map((role) => h("label", { class: "inline" },
      h("input", { type: "checkbox", name: `${prefix}-role`, value: role,
                   checked: selected.includes(role) }), role)));
}

function checkedRoles(container, prefix) {
  return [...container.querySelectorAll(`input[name="${prefix}-role"]:checked`)]
    .map((box) => box.value);
}

export async function render(view) {
  const usersBox = h("div", { id: "users" });
  const tokensBox = h("div", { id: "tokens" });
  const secret = h("div", { id: "token-secret", role: "status" });

  const name = h("input", { name: "name", required: true, autocomplete: "off" });
  const password = h("input", { name: "password", type: "password", autocomplete: "new-password" });
  const kind = h("select", { name: "kind" }, h("option", { value: "user" }, "person"),
                 h("option", { value: "service" }, "service account"));
  const scopeInputs = Object.fromEntries(SCOPE_KEYS.map(([key]) => [key, h("input", { name: key })]));
  const createForm = h("form", { class: "filters", id: "create-user", "aria-label": "New user" },
    field("Name", name), field("Password (people)", password), field("Kind", kind),
    roleBoxes("new"),
    SCOPE_KEYS.map(([key, title]) => field(`${title} (comma-separated; empty: all)`,
                                           scopeInputs[key])),
    h("button", { type: "submit" }, "Create user"));

  const tokenUser = h("input", { name: "user", required: true, autocomplete: "off" });
  const tokenLabel = h("input", { name: "label", autocomplete: "off" });
  const tokenDays = h("input", { name: "days", type: "number", min: 1, value: 90 });
  const tokenForm = h("form", { class: "filters", id: "create-token", "aria-label": "New API token" },
    field("For user", tokenUser), field("Label", tokenLabel), field("Expires in days", tokenDays),
    h("button", { type: "submit" }, "Create token"));

  replace(view, h("h1", {}, "Users & tokens"), h("h2", {}, "Users"), usersBox,
    h("h2", {}, "New user"), createForm, h("h2", {}, "API tokens"), tokensBox,
    h("h2", {}, "New API token"), tokenForm, secret);

  async function act(action, message) {
    try {
      await action();
      if (message) say(message);
      await load();
    } catch (error) {
      say(error.message, { error: true });
    }
  }

  function userRow(user) {
    const boxes = roleBoxes(`u-${user.name}`, user.roles);
    const scope = Object.entries(user.scope).filter(([, v]) => v.length)
      .map(([k, v]) => `${k}: ${v.join(", ")}`).join("; ") || "all studies";
    return h("tr", {},
      h("td", {}, user.name), h("td", {}, user.kind === "service" ? "service" : "person"),
      h("td", {}, boxes), h("td", {}, scope),
      h("td", {}, user.disabled ? "disabled" : (user.locked_until ? "locked" : "active")),
      h("td", {},
        h("button", { type: "button", class: "secondary", onclick: () => act(() => send("PATCH",
          `/api/users/${encodeURIComponent(user.name)}`, { roles: checkedRoles(boxes, `u-${user.name}`) }),
          "Roles saved.") }, "Save roles"), " ",
        h("button", { type: "button", class: "secondary", onclick: () => act(() => send("PATCH",
          `/api/users/${encodeURIComponent(user.name)}`, { disabled: !user.disabled })) },
          user.disabled ? "Enable" : "Disable"), " ",
        h("button", { type: "button", class: "secondary", onclick: () => {
          if (confirm(`Delete the account ${user.name} and its tokens?`)) {
            act(() => send("DELETE", `/api/users/${encodeURIComponent(user.name)}`), "Deleted.");
          }
        } }, "Delete")));
  }

  async function load() {
    const [users, tokens] = await Promise.all([json("/api/users"), json("/api/tokens")]);
    replace(usersBox, h("table", { "aria-label": "Users" },
      h("thead", {}, h("tr", {}, ["Name", "Kind", "Roles", "Scope", "State", ""]
        .map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, users.map(userRow))));
    replace(tokensBox, h("table", { "aria-label": "API tokens" },
      h("thead", {}, h("tr", {}, ["User", "Label", "Created", "Expires", "State", ""]
        .map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, tokens.map((token) => h("tr", {},
        h("td", {}, token.user), h("td", {}, token.label), h("td", {}, token.created_at),
        h("td", {}, token.expires_at || "never"), h("td", {}, token.revoked ? "revoked" : "valid"),
        h("td", {}, token.revoked ? "" : h("button", { type: "button", class: "secondary",
          onclick: () => act(() => send("DELETE", `/api/tokens/${encodeURIComponent(token.id)}`),
                             "Token revoked.") }, "Revoke")))))));
  }

  createForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const body = { name: name.value, kind: kind.value, roles: checkedRoles(createForm, "new"),
      scope: Object.fromEntries(SCOPE_KEYS.map(([key]) => [key, list(scopeInputs[key].value)])) };
    if (password.value) body.password = password.value;
    act(async () => { await send("POST", "/api/users", body); createForm.reset(); }, "User created.");
  });
  tokenForm.addEventListener("submit", (event) => {
    event.preventDefault();
    act(async () => {
      const created = await send("POST", "/api/tokens", { user: tokenUser.value,
        label: tokenLabel.value, expires_in_days: Number(tokenDays.value) || undefined });
      replace(secret, h("p", {}, "Copy this token now; it is not shown again:"),
              h("pre", { class: "note" }, created.token));
      tokenForm.reset();
    });
  });
  await load();
}
