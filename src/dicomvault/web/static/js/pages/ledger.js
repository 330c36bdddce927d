// The ledger's status (GET /api/ledger, /api/ledger/public-key): size, last signed
// checkpoint; "verify now" (POST /api/ledger/verify, read_audit) and "sign a checkpoint"
// (POST /api/ledger/checkpoint, manage_keys) for those allowed to. Witnessing: the latest
// checkpoint_witnessed / witness_alarm event per partner log (from /api/audit/events,
// read_audit), i.e. the partners' checkpoints this node last cosigned or refused.

import { json, request, send } from "../api.js";
import { h, replace, say, table } from "../dom.js";

export async function render(view, context) {
  const status = h("div", { id: "ledger-status" });
  const verification = h("div", { id: "ledger-verification" });
  const witnesses = h("div", { id: "ledger-witnesses" });
  const canAudit = context.me.permissions.includes("read_audit");
  const canSign = context.me.permissions.includes("manage_keys");
  const verifyButton = canAudit ? h("button", { type: "button", id: "verify-ledger",
    onclick: () => verify() }, "Verify now") : null;
  const signButton = canSign ? h("button", { type: "button", class: "secondary",
    id: "sign-checkpoint", onclick: () => sign() }, "Sign a checkpoint now") : null;
  replace(view, h("h1", {}, "Ledger"), status, h("div", { class: "toolbar" }, verifyButton,
    signButton), canAudit ? witnesses : null, verification);

  async function loadWitnesses() {
    const found = await json("/api/audit/events?type=checkpoint_witnessed,witness_alarm"
                             + "&limit=500");
    const latest = new Map();  // newest first: the first event per origin is its latest
    for (const item of found.items) {
      if (!latest.has(item.details.origin)) latest.set(item.details.origin, item);
    }
    replace(witnesses, h("h2", {}, "Witnessing"), latest.size
      ? table(["Partner log", "Outcome", "Checkpoint size", "When"], [...latest.values()].map(
        (e) => [e.details.origin,
          e.type === "checkpoint_witnessed" ? "cosigned" : `ALARM: ${e.details.reason}`,
          String(e.details.tree_size), e.time]), { caption: "Witnessed partner checkpoints" })
      : h("p", { id: "no-witnesses" }, "No witness: this node has not cosigned any "
          + "partner's checkpoint."));
  }

  async function load() {
    const [summary, keys] = await Promise.all([json("/api/ledger"),
                                               json("/api/ledger/public-key")]);
    replace(status,
      h("div", { class: "cards" },
        h("div", { class: "card" }, h("div", {}, "Entries"),
          h("div", { class: "figure", id: "ledger-size" }, String(summary.tree_size))),
        h("div", { class: "card" }, h("div", {}, "Signed checkpoints"),
          h("div", { class: "figure" }, String(summary.checkpoints))),
        h("div", { class: "card" }, h("div", {}, "Origin"), h("div", {}, summary.origin))),
      h("h2", {}, "Latest signed checkpoint"),
      h("pre", { class: "note" }, summary.latest_checkpoint || "none signed yet"),
      h("h2", {}, "Verifier keys"),
      table(["Key", "Value"], [["Log", keys.log_key], ["Witness", keys.witness_key]]));
  }

  function showVerification(result) {
    if (!result) {
      replace(verification, h("p", {}, "Not verified by this server since it started."));
      return;
    }
    replace(verification,
      h("h2", {}, "Verification"),
      h("p", { class: result.ok ? "ok-text" : "error-text", id: "verify-outcome" },
        `${result.ok ? "Verified" : "FAILED"} at ${result.verified_at}, `
        + `${result.tree_size} entries`),
      table(["Check", "Result", "Detail"], result.checks.map((c) => [c.name,
        c.ok ? "ok" : "FAILED", c.detail])));
  }

  async function verify() {
    verifyButton.disabled = true;
    say("Verifying the whole ledger…");
    try {
      showVerification(await send("POST", "/api/ledger/verify", {}));
      say("");
      await load();
    } catch (error) {
      say(error.message, { error: true });
    } finally {
      verifyButton.disabled = false;
    }
  }

  async function sign() {
    try {
      await request("/api/ledger/checkpoint", { method: "POST" });
      say("Checkpoint signed.");
      await load();
    } catch (error) {
      say(error.message, { error: true });
    }
  }

  await load();
  if (canAudit) {
    await loadWitnesses();
    showVerification(await json("/api/ledger/verify"));
  }
}
