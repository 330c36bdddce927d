// Upload: drop files or folders (or pick them), one STOW-RS request per file (PS3.18
// 10.5) with its own progress bar, then a summary of what was stored and what was
// rejected, with the server's reason.

import { session } from "../session.js";
import { TAG } from "../dicom.js";
import { h, replace } from "../dom.js";

const PARALLEL = 3;

/** Every File under a dropped item (folders walked recursively). */
async function filesOf(entry) {
  if (entry.isFile) return [await new Promise((ok, fail) => entry.file(ok, fail))];
  const reader = entry.createReader();
  const files = [];
  for (;;) {
    const batch = await new Promise((ok, fail) => reader.readEntries(ok, fail));
    if (!batch.length) return files;
    for (const child of batch) files.push(...await filesOf(child));
  }
}

/** Store one file; progress(fraction) while sending; resolves {stored, failed, reason}. */
function stow(file, progress) {
  const boundary = `dicomvault-${crypto.randomUUID()}`;
  const body = new Blob([`--${boundary}\r\nContent-Type: application/dicom\r\n\r\n`, file,
                         `\r\n--${boundary}--\r\n`]);
  return new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/dicom-web/studies");
    xhr.setRequestHeader("Content-Type",
      `multipart/related; type="application/dicom"; boundary=${boundary}`);
    xhr.setRequestHeader("Accept", "application/dicom+json");
    const token = session.accessToken();
    if (token) xhr.setRequestHeader("Authorization", `Bearer ${token}`);
    xhr.setRequestHeader("X-Dicomvault-Door", "UI");
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) progress(event.loaded / event.total);
    });
    xhr.addEventListener("load", () => {
      let answer = null;
      try { answer = JSON.parse(xhr.responseText); } catch (_) { /* not JSON */ }
      const stored = answer?.[TAG.ReferencedSOPSequence]?.Value?.length || 0;
      const failed = answer?.[TAG.FailedSOPSequence]?.Value || [];
      let reason = "";
      if (failed.length) {
        reason = failed.map((item) => item[TAG.TextValue]?.Value?.[0]
          || `failure reason ${item[TAG.FailureReason]?.Value?.[0]}`).join("; ");
      } else if (xhr.status >= 400) {
        reason = answer?.reason || `HTTP ${xhr.status}`;
      }
      resolve({ status: xhr.status, stored, failed: failed.length || (stored ? 0 : 1), reason });
    });
    xhr.addEventListener("error", () => resolve({ status: 0, stored: 0, failed: 1,
                                                   reason: "network error" }));
    xhr.send(body);
  });
}

export async function render(view) {
  const fileInput = h("input", { type: "file", multiple: true, id: "upload-files" });
  const folderInput = h("input", { type: "file", multiple: true, webkitdirectory: true,
                                   id: "upload-folder" });
  const drop = h("div", { class: "dropzone", id: "dropzone" },
    h("p", {}, "Drop DICOM files or folders here"),
    h("div", { class: "toolbar" },
      h("label", {}, "Choose files", fileInput), h("label", {}, "Choose a folder", folderInput)));
  const summary = h("p", { id: "upload-summary", role: "status" });
  const list = h("tbody", {});
  replace(view, h("h1", {}, "Upload"), drop, summary,
    h("table", { "aria-label": "Files being uploaded" },
      h("thead", {}, h("tr", {}, ["File", "Progress", "Result"].map((t) => h("th", {}, t)))),
      list));

  async function upload(files) {
    const totals = { stored: 0, rejected: 0, done: 0 };
    summary.textContent = `Uploading ${files.length} files…`;
    const queue = files.map((file) => {
      const bar = h("progress", { max: 1, value: 0, "aria-label": `Progress of ${file.name}` });
      const result = h("td", {}, "waiting");
      list.append(h("tr", {}, h("td", {}, file.webkitRelativePath || file.name),
                     h("td", {}, bar), result));
      return { file, bar, result };
    });
    async function worker() {
      for (let item = queue.shift(); item; item = queue.shift()) {
        item.result.textContent = "sending";
        const answer = await stow(item.file, (fraction) => { item.bar.value = fraction; });
        item.bar.value = 1;
        totals.stored += answer.stored;
        totals.rejected += answer.failed;
        totals.done += 1;
        item.result.textContent = answer.stored ? "stored" : `rejected: ${answer.reason}`;
        item.result.className = answer.stored ? "ok-text" : "error-text";
      }
    }
    await Promise.all(Array.from({ length: PARALLEL }, worker));
    summary.textContent = `${totals.stored} stored, ${totals.rejected} rejected `
      + `(${totals.done} files).`;
  }

  fileInput.addEventListener("change", () => upload([...fileInput.files]));
  folderInput.addEventListener("change", () => upload([...folderInput.files]));
  drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", async (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    const entries = [...event.dataTransfer.items].map((item) => item.webkitGetAsEntry())
      .filter(Boolean);
    const files = (await Promise.all(entries.map(filesOf))).flat();
    upload(files);
  });
}
