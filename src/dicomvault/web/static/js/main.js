// The UI's entry point: the login page for an anonymous visitor, otherwise the router
// over the page registry. Routes are "#/<page id>" only: no UID or patient data ever
// goes into the URL (what a page needs travels in memory, see `context.state`).

import { setBreakGlass } from "./api.js";
import { h, replace, say } from "./dom.js";
import { session } from "./session.js";
import { PAGES, allowed, pagesFor } from "./pages/registry.js";
import { renderLogin } from "./pages/login.js";

/** What pages share while the tab is open (e.g. the study the viewer opens). */
const state = {};

function currentId() {
  return (location.hash.replace(/^#\/?/, "").split("?")[0]) || "";
}

function renderNav(me) {
  const header = document.querySelector(".topbar");
  header.hidden = !me;
  if (!me) return;
  document.getElementById("whoami").textContent = `${me.name} (${me.roles.join(", ")})`;
  const id = currentId();
  replace(document.getElementById("nav"), pagesFor(me.permissions)
    .filter((page) => !page.hidden)
    .map((page) => h("li", {}, h("a", { href: `#/${page.id}`,
      "aria-current": page.id === id ? "page" : null }, page.title))));
}

let rendering = 0;

async function route() {
  // Every route() supersedes the one before, whatever it renders: a page still loading
  // must not replace a refusal or the login shown since.
  const ticket = ++rendering;
  const view = document.getElementById("view");
  const me = session.me();
  say("");
  document.title = "dicomvault";
  if (!me) {
    renderNav(null);
    renderLogin(view, () => { location.hash = ""; route(); });
    return;
  }
  const available = pagesFor(me.permissions);
  let page = PAGES.find((p) => p.id === currentId());
  if (page && !allowed(page, me.permissions)) {
    renderNav(me);
    view.dataset.page = "refused";
    replace(view, h("p", { role: "alert", class: "error-text", id: "refused" },
      `Your account may not open the ${page.title} page.`));
    return;
  }
  if (!page) {
    page = available.find((p) => !p.hidden);
    if (!page) {
      renderNav(me);
      replace(view, h("p", {}, "This account has no page in the web interface."));
      return;
    }
    history.replaceState(null, "", `#/${page.id}`);
  }
  renderNav(me);
  document.title = `${page.title} · dicomvault`;
  view.dataset.page = page.id;
  replace(view, h("p", {}, "Loading…"));
  try {
    const module = await import(new URL(`./pages/${page.module.slice(2)}`, import.meta.url));
    if (ticket !== rendering) return;
    replace(view);
    await module.render(view, { state, me, go: (id) => { location.hash = `#/${id}`; } });
  } catch (error) {
    if (ticket === rendering) say(error.message || String(error), { error: true });
  }
}

document.getElementById("logout").addEventListener("click", async () => {
  await session.logout();
  setBreakGlass(null);
  for (const key of Object.keys(state)) delete state[key];
  location.hash = "";
  route();
});
session.onChange((value) => { if (!value) route(); });
window.addEventListener("hashchange", route);
route();
