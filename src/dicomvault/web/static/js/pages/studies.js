// Study list (QIDO-RS /studies): search by patient name / ID, accession, date range and
// modality, paged by the server (limit/offset), sorted within the page; a study's series
// (QIDO-RS /studies/{uid}/series) with thumbnails, from which the viewer opens.

import { breakGlass, image, qido, setBreakGlass } from "../api.js";
import { date, personName, text, values } from "../dicom.js";
import { field, h, replace, say } from "../dom.js";

const PAGE_SIZE = 25;
const COLUMNS = [
  ["PatientName", "Patient"], ["PatientID", "Patient ID"], ["StudyDate", "Date"],
  ["AccessionNumber", "Accession"], ["ModalitiesInStudy", "Modalities"],
  ["StudyDescription", "Description"], ["NumberOfStudyRelatedInstances", "Images"],
];

function cell(study, keyword) {
  if (keyword === "PatientName") return personName(text(study, keyword));
  if (keyword === "StudyDate") return date(text(study, keyword));
  if (keyword === "ModalitiesInStudy") return values(study, keyword).join(", ");
  return text(study, keyword);
}

/** QIDO parameters from the form; names match with a trailing wildcard (PS3.18 8.3.4.6). */
function parameters(form) {
  const data = new FormData(form);
  const params = { includefield: "00081030" };
  const name = data.get("name").trim();
  if (name) params.PatientName = /[*?]/.test(name) ? name : `${name}*`;
  if (data.get("pid").trim()) params.PatientID = data.get("pid").trim();
  if (data.get("accession").trim()) params.AccessionNumber = data.get("accession").trim();
  if (data.get("modality")) params.ModalitiesInStudy = data.get("modality");
  const from = data.get("from").replaceAll("-", "");
  const to = data.get("to").replaceAll("-", "");
  if (from || to) params.StudyDate = `${from}-${to}`;
  return params;
}

export async function render(view, context) {
  const state = context.state.studies ||= { offset: 0, sort: "StudyDate", descending: true,
                                            form: {} };
  const form = h("form", { class: "filters", role: "search", "aria-label": "Find studies" },
    field("Patient name", h("input", { name: "name", value: state.form.name })),
    field("Patient ID", h("input", { name: "pid", value: state.form.pid })),
    field("Accession", h("input", { name: "accession", value: state.form.accession })),
    field("From", h("input", { name: "from", type: "date", value: state.form.from })),
    field("To", h("input", { name: "to", type: "date", value: state.form.to })),
    field("Modality", h("select", { name: "modality" },
      ["", "CT", "MR", "CR", "DX", "US", "NM", "PT", "XA", "MG", "SC", "OT", "SEG", "SR"]
        .map((m) => h("option", { value: m, selected: state.form.modality === m }, m || "any")))),
    h("button", { type: "submit" }, "Search"));
  // Break the glass: only for a user who may, and whose scope limits what it sees.
  const scoped = Object.values(context.me.scope || {}).some((values) => values.length);
  const reason = h("input", { name: "reason", id: "break-glass-reason", autocomplete: "off",
                              maxlength: 200, value: breakGlass() || null });
  const emergency = context.me.permissions.includes("break_glass") && scoped
    ? h("details", { class: "break-glass", open: Boolean(breakGlass()) },
      h("summary", {}, "Emergency access beyond my scope (break the glass)"),
      h("p", {}, "Give the reason. Every search and image you open while it is set is "
        + "recorded with it and reviewed."),
      h("label", {}, "Reason", reason))
    : null;
  const results = h("div", { id: "study-results" });
  const details = h("section", { id: "study-details", "aria-live": "polite" });
  replace(view, h("h1", {}, "Studies"), form, emergency, results, details);

  async function search() {
    state.form = Object.fromEntries(new FormData(form));
    if (emergency) {
      const text = reason.value.trim();
      // Header values are Latin-1; the server refuses non-printable text anyway.
      if (/[^\x20-\x7e\xa0-\xff]/.test(text)) {
        say("The reason may use Latin letters, digits and punctuation only.", { error: true });
        return;
      }
      setBreakGlass(text || null);
    }
    say("Searching…");
    results.setAttribute("aria-busy", "true");
    try {
      const found = await qido("studies", { ...parameters(form), limit: PAGE_SIZE + 1,
                                            offset: state.offset });
      say(breakGlass() ? "Emergency access is in force: every search and image is recorded "
        + "with your reason." : "");
      showResults(found.slice(0, PAGE_SIZE), found.length > PAGE_SIZE);
    } catch (error) {
      say(error.message, { error: true });
    } finally {
      results.setAttribute("aria-busy", "false");
    }
  }

  function showResults(studies, more) {
    const sorted = [...studies].sort((a, b) => {
      const x = cell(a, state.sort);
      const y = cell(b, state.sort);
      const order = state.sort === "NumberOfStudyRelatedInstances"
        ? Number(x) - Number(y) : x.localeCompare(y);
      return state.descending ? -order : order;
    });
    const header = h("tr", {}, COLUMNS.map(([keyword, title]) => h("th", {
      scope: "col",
      "aria-sort": state.sort === keyword ? (state.descending ? "descending" : "ascending") : null,
    }, h("button", { type: "button", class: "sort", onclick: () => {
      state.descending = state.sort === keyword ? !state.descending : false;
      state.sort = keyword;
      showResults(studies, more);
    } }, title))));
    const rows = sorted.map((study) => {
      const row = h("tr", { class: "clickable", tabindex: 0 },
        COLUMNS.map(([keyword]) => h("td", {}, cell(study, keyword))));
      const open = () => showStudy(study);
      row.addEventListener("click", open);
      row.addEventListener("keydown", (e) => { if (e.key === "Enter") open(); });
      return row;
    });
    const page = Math.floor(state.offset / PAGE_SIZE) + 1;
    replace(results,
      h("table", { "aria-label": "Studies found" }, h("thead", {}, header), h("tbody", {}, rows)),
      studies.length ? null : h("p", {}, "No study matches."),
      h("div", { class: "pager" },
        h("button", { type: "button", class: "secondary", disabled: state.offset === 0,
          onclick: () => { state.offset = Math.max(0, state.offset - PAGE_SIZE); search(); } },
          "Previous"),
        h("span", {}, `Page ${page}`),
        h("button", { type: "button", class: "secondary", disabled: !more,
          onclick: () => { state.offset += PAGE_SIZE; search(); } }, "Next")));
  }

  async function showStudy(study) {
    const studyUID = text(study, "StudyInstanceUID");
    replace(details, h("h2", {}, "Study"), h("p", {}, "Loading series…"));
    try {
      const series = await qido(`studies/${encodeURIComponent(studyUID)}/series`);
      series.sort((a, b) => Number(text(a, "SeriesNumber")) - Number(text(b, "SeriesNumber")));
      const patient = h("dl", { class: "cards" },
        ...[["Patient", personName(text(study, "PatientName"))],
            ["Patient ID", text(study, "PatientID")],
            ["Birth date", date(text(study, "PatientBirthDate"))],
            ["Sex", text(study, "PatientSex")],
            ["Study date", date(text(study, "StudyDate"))],
            ["Accession", text(study, "AccessionNumber")],
            ["Description", text(study, "StudyDescription")]]
          .map(([k, v]) => h("div", { class: "card" }, h("dt", {}, k), h("dd", {}, v))));
      const grid = h("div", { class: "series-grid" }, series.map((item) => {
        const seriesUID = text(item, "SeriesInstanceUID");
        const img = h("img", { alt: `Series ${text(item, "SeriesNumber")} thumbnail` });
        const button = h("button", { type: "button", class: "series",
          onclick: () => {
            context.state.viewer = { studyUID, seriesUID, series };
            context.go("viewer");
          } }, img,
          h("span", {}, `${text(item, "Modality")} #${text(item, "SeriesNumber")}`),
          h("span", {}, text(item, "SeriesDescription")),
          h("span", {}, `${text(item, "NumberOfSeriesRelatedInstances")} images`));
        image(`/dicom-web/studies/${encodeURIComponent(studyUID)}/series/`
              + `${encodeURIComponent(seriesUID)}/thumbnail`)
          .then((blob) => { img.src = URL.createObjectURL(blob); })
          .catch(() => { img.alt = "no thumbnail"; });
        return button;
      }));
      replace(details, h("h2", {}, "Study"), patient, h("h2", {}, "Series"), grid);
    } catch (error) {
      replace(details);
      say(error.message, { error: true });
    }
  }

  form.addEventListener("submit", (event) => { event.preventDefault(); state.offset = 0; search(); });
  search();
}
