// The page registry: every page of the UI, who may see it, and where its code is.
//
// A page is shown in the navigation only to a user holding one of its `permissions`
// (from /api/auth/me); the server refuses the page's calls anyway for anyone else.
// To add a page, add one entry here and one module in pages/
// exporting `render(container, context)`; nothing else needs to change.

export const PAGES = [
  { id: "studies", title: "Studies", permissions: ["search"], module: "./studies.js" },
  { id: "viewer", title: "Viewer", permissions: ["retrieve"], module: "./viewer.js",
    hidden: true },
  { id: "upload", title: "Upload", permissions: ["store"], module: "./upload.js" },
  { id: "audit", title: "Audit", permissions: ["read_audit"], module: "./audit.js" },
  { id: "ledger", title: "Ledger", permissions: ["read_audit", "manage_keys"],
    module: "./ledger.js" },
  { id: "users", title: "Users & tokens", permissions: ["manage_users"], module: "./users.js" },
  { id: "keys", title: "Keys", permissions: ["manage_keys"], module: "./keys.js" },
  { id: "system", title: "Storage & backup", permissions: ["manage_keys"],
    module: "./system.js" },
  { id: "dimse", title: "DICOM", permissions: ["manage_keys"], module: "./dimse.js" },
  { id: "shares", title: "Shares", permissions: ["share"], module: "./shares.js" },
];

/** Whether a user with `permissions` may open `page`. */
export function allowed(page, permissions) {
  return page.permissions.some((name) => permissions.includes(name));
}

/** The pages a user may open, in navigation order. */
export function pagesFor(permissions) {
  return PAGES.filter((page) => allowed(page, permissions));
}
