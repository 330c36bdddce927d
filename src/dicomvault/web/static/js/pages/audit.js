// The auditor's views of the ledger (GET /api/audit/*): who accessed what, when, through
// which door; failed logins; exports. Filters, paging, a timeline of activity and CSV
// export. Looking at the audit trail is itself recorded (audit_log_used).
//
// The patient view needs the keyed hash of a Patient ID: the UI asks the server for it
// with POST /api/ledger/subject-hash (the ID travels in the body, never in a URL).

import { json, request, send } from "../api.js";
import { download, field, h, replace, say, svg } from "../dom.js";

const PAGE_SIZE = 50;
const VIEWS = {
  events: "All events", "failed-logins": "Failed logins", exports: "Exports",
  "user-activity": "One user's activity", "patient-access": "One patient's accesses",
};
const TYPES = ["", "instance_stored", "instance_retrieved", "searched", "exported",
  "transcoded", "deleted", "shared", "share_used", "share_revoked", "key_rotated",
  "login_succeeded", "login_failed", "break_glass", "settings_changed", "backup_made",
  "restore_done", "blob_damaged", "blob_repaired", "checkpoint_witnessed", "witness_alarm",
  "audit_log_used"];
const DOORS = ["", "DICOMweb", "DIMSE", "API", "CLI", "UI", "system"];

function isoOrEmpty(value) {
  return value ? new Date(value).toISOString() : "";
}

/** Bar widths the timeline may use: a minute to a week, the finest that gives <= 60 bars. */
const BUCKETS = [60e3, 300e3, 900e3, 3600e3, 6 * 3600e3, 86400e3, 7 * 86400e3];

/** Bars of events per time bucket (see BUCKETS), oldest on the left. */
function timeline(items) {
  const width = 900;
  const height = 180;
  const chart = svg("svg", { class: "chart", viewBox: `0 0 ${width} ${height}`, role: "img",
                             "aria-label": "Activity over time", id: "audit-timeline" });
  const times = items.map((item) => Date.parse(item.time)).filter(Number.isFinite);
  if (!times.length) return chart;
  const first = Math.min(...times);
  const last = Math.max(...times);
  const bucket = BUCKETS.find((size) => (last - first) / size <= 60) || BUCKETS.at(-1);
  const start = Math.floor(first / bucket) * bucket;
  const count = Math.floor((last - start) / bucket) + 1;
  const bins = new Array(count).fill(0);
  for (const t of times) bins[Math.floor((t - start) / bucket)] += 1;
  const peak = Math.max(...bins);
  const barWidth = (width - 40) / count;
  chart.append(svg("text", { x: 2, y: 12 }, String(peak)), svg("text", { x: 2, y: height - 4 }, "0"));
  bins.forEach((n, i) => {
    const barHeight = (n / peak) * (height - 40);
    const rect = svg("rect", { x: 30 + i * barWidth, y: height - 20 - barHeight,
                               width: Math.max(1, barWidth - 1), height: barHeight });
    rect.append(svg("title", {}, `${new Date(start + i * bucket).toISOString()}: ${n} events`));
    chart.append(rect);
  });
  chart.append(svg("text", { x: 30, y: height - 6 }, new Date(start).toISOString().slice(0, 16)),
    svg("text", { x: width - 120, y: height - 6 }, new Date(last).toISOString().slice(0, 16)));
  return chart;
}

export async function render(view) {
  const viewSelect = h("select", { name: "view" },
    Object.entries(VIEWS).map(([id, title]) => h("option", { value: id }, title)));
  const type = h("select", { name: "type" }, TYPES.map((t) => h("option", { value: t }, t || "any")));
  const actor = h("input", { name: "actor", autocomplete: "off" });
  const door = h("select", { name: "door" }, DOORS.map((d) => h("option", { value: d }, d || "any")));
  const patient = h("input", { name: "patient", autocomplete: "off", type: "password",
                               "aria-description": "Patient ID, sent hashed" });
  const since = h("input", { name: "since", type: "datetime-local" });
  const until = h("input", { name: "until", type: "datetime-local" });
  const form = h("form", { class: "filters", "aria-label": "Audit filters" },
    field("View", viewSelect), field("Event type", type), field("User", actor),
    field("Door", door), field("Patient ID (for the patient view)", patient),
    field("Since", since), field("Until", until),
    h("button", { type: "submit" }, "Show"),
    h("button", { type: "button", class: "secondary", id: "audit-csv",
                  onclick: () => exportCsv() }, "Export CSV"));
  const chart = h("div", {});
  const results = h("div", { id: "audit-results" });
  replace(view, h("h1", {}, "Audit trail"), form, h("h2", {}, "Activity"), chart,
          h("h2", {}, "Events"), results);
  let offset = 0;

  async function query(extra) {
    const params = new URLSearchParams();
    if (type.value) params.set("type", type.value);
    if (actor.value && viewSelect.value !== "user-activity") params.set("actor", actor.value);
    if (door.value) params.set("door", door.value);
    if (since.value) params.set("since", isoOrEmpty(since.value));
    if (until.value) params.set("until", isoOrEmpty(until.value));
    if (viewSelect.value === "user-activity") {
      if (!actor.value) throw new Error("Enter the user whose activity to show.");
      params.set("actor", actor.value);
    }
    if (viewSelect.value === "patient-access") {
      if (!patient.value) throw new Error("Enter the Patient ID whose accesses to show.");
      const { hash } = await send("POST", "/api/ledger/subject-hash",
                                  { kind: "patient", value: patient.value });
      params.set("patient", hash);
    }
    for (const [key, value] of Object.entries(extra)) params.set(key, value);
    return `/api/audit/${viewSelect.value}?${params}`;
  }

  async function show() {
    results.setAttribute("aria-busy", "true");
    try {
      say("Loading…");
      const page = await json(await query({ offset, limit: PAGE_SIZE }));
      const recent = offset === 0 ? await json(await query({ offset: 0, limit: 1000 })) : null;
      say("");
      if (recent) replace(chart, timeline(recent.items));
      const rows = page.items.map((item) => h("tr", {},
        h("td", {}, String(item.index)), h("td", {}, item.time), h("td", {}, item.type),
        h("td", {}, item.actor), h("td", {}, item.door), h("td", {}, item.client),
        h("td", {}, (item.subjects || []).map((s) => s.split(":")[0]).join(", ")),
        h("td", {}, Object.entries(item.details || {}).map(([k, v]) => `${k}=${v}`).join(" "))));
      replace(results,
        h("p", {}, `${page.total} events`),
        h("table", { "aria-label": "Audit events" },
          h("thead", {}, h("tr", {}, ["#", "Time", "Event", "User", "Door", "Client",
            "About", "Details"].map((t) => h("th", { scope: "col" }, t)))),
          h("tbody", {}, rows)),
        h("div", { class: "pager" },
          h("button", { type: "button", class: "secondary", disabled: offset === 0,
            onclick: () => { offset = Math.max(0, offset - PAGE_SIZE); show(); } }, "Newer"),
          h("span", {}, `${offset + 1}–${offset + page.items.length} of ${page.total}`),
          h("button", { type: "button", class: "secondary",
            disabled: offset + page.items.length >= page.total,
            onclick: () => { offset += PAGE_SIZE; show(); } }, "Older")));
    } catch (error) {
      say(error.message, { error: true });
    } finally {
      results.setAttribute("aria-busy", "false");
    }
  }

  async function exportCsv() {
    try {
      const response = await request(await query({ offset: 0, limit: 1000, format: "csv" }),
                                     { headers: { Accept: "text/csv" } });
      download(await response.blob(), `${viewSelect.value}.csv`);
    } catch (error) {
      say(error.message, { error: true });
    }
  }

  form.addEventListener("submit", (event) => { event.preventDefault(); offset = 0; show(); });
  await show();
}
