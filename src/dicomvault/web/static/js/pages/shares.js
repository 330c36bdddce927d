// Share agreements this node grants (/api/shares, /api/institution); needs share.
// List with status and what is left, revoke with a reason, create the common case.
// The grantee is a registered partner's label or institution id, or its public key.

import { json, send } from "../api.js";
import { field, h, replace, say, table } from "../dom.js";

const SCOPES = [["study", "Study Instance UIDs"], ["series", "Series Instance UIDs"],
                ["patient", "Patient IDs"], ["query", "Saved study query (Keyword=value, …)"]];
const DEID_OPTIONS = ["retain-longitudinal-full-dates", "retain-longitudinal-modified-dates",
  "retain-patient-characteristics", "retain-device-identity", "retain-uids",
  "retain-safe-private", "clean-descriptors"];

function list(text) {
  return text.split(",").map((s) => s.trim()).filter(Boolean);
}

/** "A=1, B=2" -> {A: "1", B: "2"}. */
function query(text) {
  return Object.fromEntries(list(text).map((pair) => {
    const at = pair.indexOf("=");
    return at < 0 ? [pair, ""] : [pair.slice(0, at).trim(), pair.slice(at + 1).trim()];
  }));
}

/** An ISO 8601 time to the minute, UTC ("2026-11-24 02:35"). */
function moment(text) {
  return text.slice(0, 16).replace("T", " ");
}

export async function render(view) {
  const institution = h("p", { id: "institution", class: "note" });
  const sharesBox = h("div", { id: "shares" });
  const reason = h("input", { name: "revoke-reason", autocomplete: "off" });

  const grantee = h("input", { name: "grantee", required: true, autocomplete: "off" });
  const kind = h("select", { name: "scope-kind" },
    SCOPES.map(([value, text]) => h("option", { value }, text)));
  const values = h("input", { name: "scope-values", required: true, autocomplete: "off" });
  const purpose = h("input", { name: "purpose", required: true, autocomplete: "off" });
  const days = h("input", { name: "days", type: "number", min: 1, value: 30, required: true });
  const limit = h("input", { name: "max-retrievals", type: "number", min: 1, value: 100,
                             required: true });
  const burnedIn = h("input", { type: "checkbox", name: "allow-burned-in" });
  const createForm = h("form", { class: "filters", id: "create-share",
                                 "aria-label": "New share agreement" },
    field("Grantee (partner label, institution id or public key)", grantee),
    field("Scope", kind), field("Scope values (comma-separated)", values),
    field("Purpose", purpose), field("Expires in days", days),
    field("Max retrievals (instances)", limit),
    h("fieldset", { class: "toolbar" }, h("legend", {}, "De-identification options"),
      DEID_OPTIONS.map((name) => h("label", { class: "inline" },
        h("input", { type: "checkbox", name: "deid", value: name }), name))),
    h("label", { class: "inline" }, burnedIn, "Allow burned-in annotations"),
    h("button", { type: "submit" }, "Create agreement"));

  replace(view, h("h1", {}, "Share agreements"), institution,
    h("h2", {}, "Agreements"), field("Reason for revoking", reason), sharesBox,
    h("h2", {}, "New agreement"), createForm);

  async function load() {
    const shares = await json("/api/shares");
    if (!shares.length) {
      replace(sharesBox, h("p", {}, "No agreement yet."));
      return;
    }
    replace(sharesBox, table(
      ["Share", "Grantee", "Status", "Scope", "Remaining", "Expires", "Purpose", ""],
      shares.map((s) => [s.share_id,
        h("span", { title: s.grantee }, `${s.grantee.slice(0, 12)}…`), s.status, s.scope.kind,
        `${Math.max(0, s.max_retrievals - s.retrievals_used)} of ${s.max_retrievals}`,
        moment(s.expires), s.purpose,
        s.status === "active"
          ? h("button", { type: "button", class: "secondary", "aria-label": `Revoke ${s.share_id}`,
                          onclick: () => revoke(s.share_id) }, "Revoke")
          : (s.revoked_at ? `revoked ${moment(s.revoked_at)}` : "")]),
      { caption: "Share agreements" }));
  }

  async function revoke(id) {
    if (!confirm(`Revoke share ${id}? The partner loses access on its next request.`)) return;
    try {
      await send("POST", `/api/shares/${encodeURIComponent(id)}/revoke`,
                 { reason: reason.value.trim() });
      say(`Share ${id} revoked.`);
      reason.value = "";
      await load();
    } catch (error) {
      say(error.message, { error: true });
    }
  }

  createForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const scope = kind.value === "query" ? { kind: "query", query: query(values.value) }
      : { kind: kind.value, values: list(values.value) };
    const deid = [...createForm.querySelectorAll('input[name="deid"]:checked')]
      .map((box) => box.value);
    try {
      const created = await send("POST", "/api/shares", {
        grantee: grantee.value.trim(), scope, purpose: purpose.value,
        expires_in_days: Number(days.value), max_retrievals: Number(limit.value),
        deid_profile: deid, allow_burned_in: burnedIn.checked });
      say(`Share ${created.share_id} created.`);
      createForm.reset();
      await load();
    } catch (error) {
      say(error.message, { error: true });
    }
  });

  const me = await json("/api/institution");
  replace(institution, `This node's institution id: ${me.institution_id}`);
  await load();
}
