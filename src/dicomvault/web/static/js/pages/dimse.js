// AE titles and DICOM destinations (GET /api/dimse); needs manage_keys. Read-only: the
// settings file (or environment) is the source of truth, changed there and restarted.

import { json } from "../api.js";
import { h, replace, table } from "../dom.js";

function roleRows(map) {
  return Object.entries(map || {}).sort(([a], [b]) => a.localeCompare(b))
    .map(([name, roles]) => [name === "*" ? "* (any other)" : name, roles.join(", ")]);
}

// One row per AE title named in dimse_ae_roles or dimse_ae_hosts: its roles and where it
// may call from.
function callingRows(roles, hosts) {
  const names = [...new Set([...Object.keys(roles || {}), ...Object.keys(hosts || {})])]
    .sort((a, b) => a.localeCompare(b));
  return names.map((name) => {
    const own = roles[name] || (roles["*"] ? roles["*"] : null);
    return [name === "*" ? "* (any other)" : name,
      own ? own.join(", ") : "not accepted",
      hosts[name] ? hosts[name].join(", ") : "anywhere"];
  });
}

export async function render(view) {
  const box = h("div", { id: "dimse-config" });
  replace(view, h("h1", {}, "DICOM"),
    h("p", { class: "note" }, "Read-only: these come from the node's settings file "
      + "(ae_title, dicom_port, dimse_tls_port, dimse_ae_roles, dimse_ae_hosts, dimse_destinations, "
      + "dimse_tls_cert_roles); change them there and restart the server."),
    box);
  const config = await json("/api/dimse");
  const none = (text) => h("p", {}, text);
  replace(box,
    h("h2", {}, "This node"),
    table(["Property", "Value"], [
      ["AE title", config.ae_title],
      ["DIMSE port", String(config.dicom_port)],
      ["DICOM TLS", config.tls_enabled ? `on, port ${config.tls_port}` : "off"]]),
    h("h2", {}, "Calling AE titles and their roles"),
    Object.keys(config.ae_roles).length
      ? table(["Calling AE title", "Roles", "Calls from"],
        callingRows(config.ae_roles, config.ae_hosts), { caption: "Calling AE titles" })
      : none("No calling AE title is accepted."),
    h("h2", {}, "C-MOVE destinations"),
    config.destinations.length
      ? table(["AE title", "Host", "Port", "TLS"], config.destinations.map((d) => [
        d.ae_title, d.host, String(d.port), d.tls ? "yes" : "no"]), { caption: "Destinations" })
      : none("No destination is configured."),
    h("h2", {}, "TLS client certificates and their roles"),
    Object.keys(config.tls_cert_roles).length
      ? table(["Certificate CN", "Roles"], roleRows(config.tls_cert_roles))
      : none("No client certificate is mapped to roles."));
}
