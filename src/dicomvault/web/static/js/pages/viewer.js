// The viewer: series thumbnails, the image with window/level (CT presets and a drag
// gesture), scrolling through slices and frames, zoom and pan, length measurement and the
// DICOM header of the current image.
//
// Images are the server's rendered frames (WADO-RS .../frames/{n}/rendered, PS3.18
// 10.4.1.1.4) with the window in the request, so every view is an authorised retrieve
// recorded in the ledger. Rendered frames are kept in an LRU cache and the neighbours of
// the current slice are prefetched, so scrolling back and forth does not wait.

import { image, json, qido } from "../api.js";
import { display, number, text, values } from "../dicom.js";
import { h, replace, say } from "../dom.js";

export const PRESETS = {
  "CT lung": [-600, 1500], "CT bone": [300, 1500], "CT brain": [40, 80],
  "CT abdomen": [40, 400],
};
const CACHE_SIZE = 600;
const PREFETCH_AHEAD = 6;
const PREFETCH_BEHIND = 2;
const HEADER_DELAY_MS = 150;

const uid = encodeURIComponent;

/** An LRU of rendered frames (key -> Promise<ImageBitmap>). */
class FrameCache {
  constructor(size) { this.size = size; this.map = new Map(); }
  get(key, make) {
    if (this.map.has(key)) {
      const value = this.map.get(key);
      this.map.delete(key);
      this.map.set(key, value);
      return value;
    }
    const value = make().catch((error) => { this.map.delete(key); throw error; });
    this.map.set(key, value);
    while (this.map.size > this.size) this.map.delete(this.map.keys().next().value);
    return value;
  }
}

export async function render(view, context) {
  const selection = context.state.viewer;
  if (!selection) {
    replace(view, h("h1", {}, "Viewer"),
      h("p", {}, "Open a series from the ", h("a", { href: "#/studies" }, "study list"), "."));
    return;
  }
  const { studyUID } = selection;
  const cache = new FrameCache(CACHE_SIZE);
  const metadataCache = new Map();
  const v = {
    seriesUID: selection.seriesUID, frames: [], index: 0, window: null, defaultWindow: null,
    zoom: 1, panX: 0, panY: 0, tool: "wl", measure: null, bitmap: null, spacing: null,
  };

  const canvas = h("canvas", { id: "viewer-canvas", tabindex: 0,
    "aria-label": "Image. Arrow keys or the wheel change slice." });
  const overlay = h("div", { class: "overlay", "aria-live": "polite", id: "viewer-overlay" });
  const slider = h("input", { type: "range", min: 1, max: 1, value: 1, id: "slice",
                              "aria-label": "Slice" });
  const toolButtons = Object.fromEntries([["wl", "Window/level"], ["pan", "Pan"],
    ["zoom", "Zoom"], ["length", "Length"]].map(([id, label]) => [id, h("button", {
    type: "button", class: "secondary", "aria-pressed": String(id === v.tool),
    dataset: { tool: id }, onclick: () => setTool(id) }, label)]));
  const presetButtons = Object.keys(PRESETS).map((name) => h("button", { type: "button",
    class: "secondary", dataset: { preset: name }, onclick: () => setWindow(...PRESETS[name]) },
    name));
  const thumbs = h("nav", { class: "thumbs", "aria-label": "Series" });
  const header = h("div", { class: "side", id: "viewer-header" });
  const stage = h("div", { class: "stage" }, canvas, overlay);
  replace(view,
    h("div", { class: "viewer-tools", role: "toolbar", "aria-label": "Viewer tools" },
      ...Object.values(toolButtons), h("span", {}, " "), ...presetButtons,
      h("button", { type: "button", class: "secondary", dataset: { preset: "default" },
        onclick: () => setWindow(null) }, "Default"),
      h("button", { type: "button", class: "secondary",
        onclick: () => { v.zoom = 1; v.panX = 0; v.panY = 0; v.measure = null; draw(); } },
        "Reset view"),
      h("label", { class: "inline" }, "Slice", slider)),
    h("div", { class: "viewer" }, thumbs, stage, header));

  // -- series and frames --------------------------------------------------------------

  function frameKey(frame, window) {
    return `${frame.sop}|${frame.number}|${window ? window.join(",") : "default"}`;
  }

  function frameUrl(frame, window) {
    const query = window ? `?window=${window[0]},${window[1]}&quality=95` : "?quality=95";
    return `/dicom-web/studies/${uid(studyUID)}/series/${uid(frame.series)}/instances/`
      + `${uid(frame.sop)}/frames/${frame.number}/rendered${query}`;
  }

  function fetchFrame(frame, window = v.window) {
    return cache.get(frameKey(frame, window),
      async () => createImageBitmap(await image(frameUrl(frame, window))));
  }

  async function loadSeries(seriesUID) {
    v.seriesUID = seriesUID;
    for (const button of thumbs.querySelectorAll("button")) {
      button.setAttribute("aria-current", String(button.dataset.series === seriesUID));
    }
    const instances = await qido(`studies/${uid(studyUID)}/series/${uid(seriesUID)}/instances`,
                                 { includefield: ["00280008", "00200013"] });
    instances.sort((a, b) => number(a, "InstanceNumber") - number(b, "InstanceNumber"));
    v.frames = instances.flatMap((instance) => {
      const count = Math.max(1, number(instance, "NumberOfFrames") || 1);
      return Array.from({ length: count }, (_, i) => ({
        series: seriesUID, sop: text(instance, "SOPInstanceUID"), number: i + 1 }));
    });
    v.window = null;
    v.index = Math.floor((v.frames.length - 1) / 2);
    slider.max = String(Math.max(1, v.frames.length));
    v.zoom = 1; v.panX = 0; v.panY = 0; v.measure = null;
    await show(v.index);
  }

  async function metadata(frame) {
    if (!metadataCache.has(frame.sop)) {
      metadataCache.set(frame.sop, json(`/dicom-web/studies/${uid(studyUID)}/series/`
        + `${uid(frame.series)}/instances/${uid(frame.sop)}/metadata`,
        { headers: { Accept: "application/dicom+json" } }).then((list) => list[0]));
    }
    return metadataCache.get(frame.sop);
  }

  async function showHeader(frame) {
    const dataset = await metadata(frame);
    const spacing = values(dataset, "PixelSpacing").map(Number);
    const imager = values(dataset, "ImagerPixelSpacing").map(Number);
    v.spacing = spacing.length === 2 ? spacing : (imager.length === 2 ? imager : null);
    const center = number(dataset, "WindowCenter");
    const width = number(dataset, "WindowWidth");
    v.defaultWindow = Number.isFinite(center) && Number.isFinite(width) ? [center, width] : null;
    const rows = Object.keys(dataset).sort().map((tag) => h("tr", {},
      h("td", {}, `(${tag.slice(0, 4)},${tag.slice(4)})`), h("td", {}, dataset[tag].vr),
      h("td", {}, display(dataset[tag]))));
    replace(header, h("h2", {}, "DICOM header"),
      h("table", { "aria-label": "DICOM header of the current image" },
        h("thead", {}, h("tr", {}, h("th", {}, "Tag"), h("th", {}, "VR"), h("th", {}, "Value"))),
        h("tbody", {}, rows)));
  }

  async function show(index) {
    if (!v.frames.length) return;
    v.index = Math.max(0, Math.min(v.frames.length - 1, index));
    slider.value = String(v.index + 1);
    const frame = v.frames[v.index];
    const wanted = `${v.index}|${v.window}`;
    v.wanted = wanted;
    try {
      const bitmap = await fetchFrame(frame);
      if (v.wanted !== wanted) return;
      v.bitmap = bitmap;
      draw();
      canvas.dataset.rendered = frameKey(frame, v.window);
      prefetch();
      // The header table (~100 rows) is rebuilt once scrolling pauses, not per slice.
      clearTimeout(v.headerTimer);
      v.headerTimer = setTimeout(() => {
        showHeader(frame).catch((error) => say(error.message, { error: true }));
      }, HEADER_DELAY_MS);
    } catch (error) {
      say(error.message, { error: true });
    }
  }

  function prefetch() {
    for (let d = 1; d <= PREFETCH_AHEAD; d += 1) {
      const frame = v.frames[v.index + d];
      if (frame) fetchFrame(frame).catch(() => {});
    }
    for (let d = 1; d <= PREFETCH_BEHIND; d += 1) {
      const frame = v.frames[v.index - d];
      if (frame) fetchFrame(frame).catch(() => {});
    }
  }

  // -- drawing ------------------------------------------------------------------------

  function layout() {
    const rect = canvas.getBoundingClientRect();
    const ratio = window.devicePixelRatio || 1;
    const width = Math.max(1, Math.round(rect.width * ratio));
    const height = Math.max(1, Math.round(rect.height * ratio));
    if (canvas.width !== width || canvas.height !== height) {
      canvas.width = width; canvas.height = height;
    }
    const bitmap = v.bitmap;
    if (!bitmap) return null;
    const fit = Math.min(width / bitmap.width, height / bitmap.height);
    const scale = fit * v.zoom;
    return { scale, ratio,
      x: (width - bitmap.width * scale) / 2 + v.panX * ratio,
      y: (height - bitmap.height * scale) / 2 + v.panY * ratio };
  }

  function toImage(event) {
    const place = layout();
    const rect = canvas.getBoundingClientRect();
    return [((event.clientX - rect.left) * place.ratio - place.x) / place.scale,
            ((event.clientY - rect.top) * place.ratio - place.y) / place.scale];
  }

  function lengthText(m) {
    const dx = m.to[0] - m.from[0];
    const dy = m.to[1] - m.from[1];
    if (v.spacing) {
      const mm = Math.hypot(dx * v.spacing[1], dy * v.spacing[0]);
      return `${mm.toFixed(1)} mm`;
    }
    return `${Math.hypot(dx, dy).toFixed(1)} px`;
  }

  function draw() {
    const place = layout();
    const ctx = canvas.getContext("2d");
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    if (!place) return;
    ctx.imageSmoothingEnabled = v.zoom < 2;
    ctx.drawImage(v.bitmap, place.x, place.y, v.bitmap.width * place.scale,
                  v.bitmap.height * place.scale);
    if (v.measure) {
      const [x1, y1] = v.measure.from;
      const [x2, y2] = v.measure.to;
      ctx.strokeStyle = "#00e676";
      ctx.lineWidth = 2 * place.ratio;
      ctx.beginPath();
      ctx.moveTo(place.x + x1 * place.scale, place.y + y1 * place.scale);
      ctx.lineTo(place.x + x2 * place.scale, place.y + y2 * place.scale);
      ctx.stroke();
      ctx.fillStyle = "#00e676";
      ctx.font = `${14 * place.ratio}px sans-serif`;
      ctx.fillText(lengthText(v.measure), place.x + x2 * place.scale + 6,
                   place.y + y2 * place.scale);
    }
    const windowText = v.window ? `W ${Math.round(v.window[1])} / L ${Math.round(v.window[0])}`
      : "W/L default";
    overlay.textContent = `Image ${v.index + 1} / ${v.frames.length}   ${windowText}   `
      + `zoom ${v.zoom.toFixed(2)}${v.measure ? `   length ${lengthText(v.measure)}` : ""}`;
  }

  // -- interaction --------------------------------------------------------------------

  function setTool(id) {
    v.tool = id;
    for (const [name, button] of Object.entries(toolButtons)) {
      button.setAttribute("aria-pressed", String(name === id));
    }
  }

  function setWindow(center, width) {
    v.window = center === null ? null : [center, Math.max(1, width)];
    show(v.index);
  }

  let drag = null;
  let pendingWindow = null;
  canvas.addEventListener("pointerdown", (event) => {
    canvas.setPointerCapture(event.pointerId);
    const start = v.window || v.defaultWindow || [40, 400];
    drag = { x: event.clientX, y: event.clientY, window: start, panX: v.panX, panY: v.panY,
             zoom: v.zoom, from: v.tool === "length" && v.bitmap ? toImage(event) : null };
  });
  canvas.addEventListener("pointermove", (event) => {
    if (!drag) return;
    const dx = event.clientX - drag.x;
    const dy = event.clientY - drag.y;
    if (v.tool === "pan") {
      v.panX = drag.panX + dx; v.panY = drag.panY + dy; draw();
    } else if (v.tool === "zoom") {
      v.zoom = Math.min(20, Math.max(0.1, drag.zoom * Math.exp(-dy / 200))); draw();
    } else if (v.tool === "length" && drag.from) {
      v.measure = { from: drag.from, to: toImage(event) }; draw();
    } else if (v.tool === "wl") {
      const [center, width] = drag.window;
      const scale = Math.max(1, width / 200);
      const next = [center + dy * scale, Math.max(1, width + dx * scale)];
      if (!pendingWindow) {
        pendingWindow = setTimeout(() => { pendingWindow = null; setWindow(...v.dragWindow); }, 120);
      }
      v.dragWindow = next;
    }
  });
  const endDrag = () => {
    if (drag && v.tool === "wl" && v.dragWindow) {
      clearTimeout(pendingWindow); pendingWindow = null;
      setWindow(...v.dragWindow); v.dragWindow = null;
    }
    drag = null;
  };
  canvas.addEventListener("pointerup", endDrag);
  canvas.addEventListener("pointercancel", endDrag);
  canvas.addEventListener("wheel", (event) => {
    event.preventDefault();
    if (event.ctrlKey) {
      v.zoom = Math.min(20, Math.max(0.1, v.zoom * Math.exp(-event.deltaY / 300))); draw();
    } else {
      show(v.index + Math.sign(event.deltaY));
    }
  }, { passive: false });
  canvas.addEventListener("keydown", (event) => {
    const steps = { ArrowDown: 1, ArrowRight: 1, ArrowUp: -1, ArrowLeft: -1, PageDown: 10,
                    PageUp: -10 };
    if (event.key in steps) { event.preventDefault(); show(v.index + steps[event.key]); }
    if (event.key === "Home") { event.preventDefault(); show(0); }
    if (event.key === "End") { event.preventDefault(); show(v.frames.length - 1); }
  });
  slider.addEventListener("input", () => show(Number(slider.value) - 1));
  const resize = new ResizeObserver(() => draw());
  resize.observe(stage);

  // -- the series strip ---------------------------------------------------------------

  const series = selection.series || await qido(`studies/${uid(studyUID)}/series`);
  for (const item of series) {
    const seriesUID = text(item, "SeriesInstanceUID");
    const img = h("img", { alt: `Series ${text(item, "SeriesNumber")}` });
    const button = h("button", { type: "button", dataset: { series: seriesUID },
      "aria-current": String(seriesUID === v.seriesUID),
      onclick: () => loadSeries(seriesUID).catch((e) => say(e.message, { error: true })) },
      img, h("span", {}, `${text(item, "Modality")} #${text(item, "SeriesNumber")}`));
    thumbs.append(button);
    image(`/dicom-web/studies/${uid(studyUID)}/series/${uid(seriesUID)}/thumbnail`)
      .then((blob) => { img.src = URL.createObjectURL(blob); })
      .catch(() => { img.alt = "no thumbnail"; });
  }
  await loadSeries(v.seriesUID);
  canvas.focus();
}
