// Reading DICOM JSON (PS3.18 F.2) as QIDO-RS and WADO-RS metadata answer it.

/** Tags the pages use, by keyword. */
export const TAG = {
  PatientName: "00100010", PatientID: "00100020", PatientBirthDate: "00100030",
  PatientSex: "00100040", StudyDate: "00080020", StudyTime: "00080030",
  AccessionNumber: "00080050", ModalitiesInStudy: "00080061", Modality: "00080060",
  StudyDescription: "00081030", SeriesDescription: "0008103E", StudyInstanceUID: "0020000D",
  SeriesInstanceUID: "0020000E", SOPInstanceUID: "00080018", SOPClassUID: "00080016",
  SeriesNumber: "00200011", InstanceNumber: "00200013", NumberOfFrames: "00280008",
  NumberOfStudyRelatedSeries: "00201206", NumberOfStudyRelatedInstances: "00201208",
  NumberOfSeriesRelatedInstances: "00201209", WindowCenter: "00281050",
  WindowWidth: "00281051", PixelSpacing: "00280030", Rows: "00280010", Columns: "00280011",
  ImagerPixelSpacing: "00181164", ReferencedSOPSequence: "00081199",
  FailedSOPSequence: "00081198", FailureReason: "00081197", TextValue: "0040A160",
  ReferencedSOPInstanceUID: "00081155", WarningReason: "00081196",
};

/** All values of an attribute (PN as its Alphabetic group), [] if absent or empty. */
export function values(dataset, keyword) {
  const element = dataset?.[TAG[keyword] || keyword];
  if (!element || !Array.isArray(element.Value)) return [];
  return element.Value.map((item) => (item && typeof item === "object" && "Alphabetic" in item
    ? item.Alphabetic : item));
}

/** The first value as text ("" if none). */
export function text(dataset, keyword) {
  const [first] = values(dataset, keyword);
  return first === undefined || first === null ? "" : String(first);
}

/** The first value as a number (NaN if none). */
export function number(dataset, keyword) {
  return Number.parseFloat(text(dataset, keyword));
}

/** A person name for display: "DOE^JANE" -> "DOE, JANE". */
export function personName(value) {
  const parts = String(value || "").split("^").filter(Boolean);
  return parts.length > 1 ? `${parts[0]}, ${parts.slice(1).join(" ")}` : (parts[0] || "");
}

/** A DA value (YYYYMMDD) for display (YYYY-MM-DD). */
export function date(value) {
  const v = String(value || "");
  return /^\d{8}$/.test(v) ? `${v.slice(0, 4)}-${v.slice(4, 6)}-${v.slice(6)}` : v;
}

/** A value of any VR as one line of text for the header view. */
export function display(element) {
  if (!element) return "";
  if (element.BulkDataURI) return "(bulk data)";
  if (element.InlineBinary) return "(binary)";
  if (!Array.isArray(element.Value)) return "";
  if (element.vr === "SQ") return `(sequence of ${element.Value.length})`;
  return element.Value.map((item) => (item && typeof item === "object"
    ? (item.Alphabetic ?? JSON.stringify(item)) : String(item))).join("\\");
}
