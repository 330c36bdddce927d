// Storage and compression statistics per modality (/api/stats), backups and the last
// scrub (/api/backup), and what this node is (/api/system: AE title, DICOM port).

import { json } from "../api.js";
import { bytes, h, replace, svg, table } from "../dom.js";

/** Horizontal bars of original vs stored bytes per modality. */
function modalityChart(figures) {
  const byModality = new Map();
  for (const f of figures) {
    const m = byModality.get(f.modality || "-") || { original: 0, stored: 0 };
    m.original += f.original_bytes;
    m.stored += f.stored_bytes;
    byModality.set(f.modality || "-", m);
  }
  const rows = [...byModality.entries()];
  const width = 700;
  const rowHeight = 34;
  const chart = svg("svg", { class: "chart", id: "modality-chart", role: "img",
    viewBox: `0 0 ${width} ${Math.max(1, rows.length) * rowHeight + 10}`,
    "aria-label": "Original and stored bytes per modality" });
  const peak = Math.max(1, ...rows.map(([, m]) => m.original));
  rows.forEach(([modality, m], i) => {
    const y = 5 + i * rowHeight;
    const scale = (width - 260) / peak;
    chart.append(svg("text", { x: 0, y: y + 18 }, modality),
      svg("rect", { x: 60, y, width: Math.max(1, m.original * scale), height: 12, opacity: 0.45 }),
      svg("rect", { x: 60, y: y + 14, width: Math.max(1, m.stored * scale), height: 12 }),
      svg("text", { x: 70 + m.original * scale, y: y + 10 }, `original ${bytes(m.original)}`),
      svg("text", { x: 70 + m.stored * scale, y: y + 24 }, `stored ${bytes(m.stored)}`));
  });
  return chart;
}

export async function render(view) {
  const [system, stats, backup] = await Promise.all([json("/api/system"), json("/api/stats"),
                                                     json("/api/backup")]);
  const ratio = stats.stored_bytes ? stats.original_bytes / stats.stored_bytes : 1;
  replace(view, h("h1", {}, "Storage & backup"),
    h("div", { class: "cards" },
      h("div", { class: "card" }, h("div", {}, "Instances"),
        h("div", { class: "figure", id: "stat-instances" }, String(stats.instances))),
      h("div", { class: "card" }, h("div", {}, "Stored"),
        h("div", { class: "figure" }, bytes(stats.stored_bytes))),
      h("div", { class: "card" }, h("div", {}, "Compression ratio"),
        h("div", { class: "figure" }, ratio.toFixed(2))),
      h("div", { class: "card" }, h("div", {}, "AE title / DICOM port"),
        h("div", { class: "figure" }, `${system.ae_title} / ${system.dicom_port}`))),
    h("h2", {}, "Per modality"), modalityChart(stats.figures),
    table(["Modality", "Stored as", "Instances", "Original", "Stored", "Ratio"],
      stats.figures.map((f) => [f.modality || "-", f.label, String(f.instances),
        bytes(f.original_bytes), bytes(f.stored_bytes), f.ratio.toFixed(2)])),
    h("h2", {}, "Backups"),
    backup.target_configured
      ? table(["Generation", "Created", "Objects", "Ledger size", "Size"],
        backup.generations.map((g) => [String(g.generation), g.created, String(g.objects),
          String(g.tree_size), bytes(g.bytes)]))
      : h("p", { id: "backup-none" }, "No backup target is configured (backup_target)."),
    h("h2", {}, "Scrub"),
    h("p", { id: "last-scrub" }, backup.last_scrub
      ? `Last scheduled scrub completed ${backup.last_scrub}.`
      : "No scheduled scrub has completed yet.",
      ` Interval: ${backup.scrub_interval_hours} hours.`),
    h("h2", {}, "Node"),
    table(["Property", "Value"], [["Version", system.version], ["Ledger origin",
      system.ledger_origin]]));
}
