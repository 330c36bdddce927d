// Key status and rotation (/api/keys, /api/keys/rotate); needs manage_keys.

import { json, send } from "../api.js";
import { h, replace, say, table } from "../dom.js";

function flatten(value, prefix = "") {
  return Object.entries(value || {}).flatMap(([key, item]) => (
    item && typeof item === "object" && !Array.isArray(item)
      ? flatten(item, `${prefix}${key}.`)
      : [[`${prefix}${key}`, Array.isArray(item) ? item.join(", ") : String(item ?? "")]]));
}

export async function render(view) {
  const status = h("div", { id: "key-status" });
  const result = h("div", { id: "rotation-result", role: "status" });
  const rotate = h("button", { type: "button", id: "rotate-keys" }, "Rotate keys now");
  replace(view, h("h1", {}, "Keys"), status, h("div", { class: "toolbar" }, rotate), result);

  async function load() {
    replace(status, table(["Property", "Value"], flatten(await json("/api/keys"))));
  }

  rotate.addEventListener("click", async () => {
    if (!confirm("Rotate the key-encryption keys now? Data keys are re-wrapped; images are not rewritten.")) return;
    rotate.disabled = true;
    say("Rotating…");
    try {
      const progress = await send("POST", "/api/keys/rotate", {});
      say("");
      replace(result, h("h2", {}, "Rotation"), table(["Property", "Value"], flatten(progress)));
      await load();
    } catch (error) {
      say(error.message, { error: true });
    } finally {
      rotate.disabled = false;
    }
  });
  await load();
}
