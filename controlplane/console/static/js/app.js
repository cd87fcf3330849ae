// The console's shell: a hash router over the views and the token dialog.
import { token, whenUnauthorized } from "./api.js";
import { mount, h } from "./dom.js";
import * as overview from "./views/overview.js";
import * as sources from "./views/sources.js";
import * as groups from "./views/groups.js";
import * as tags from "./views/tags.js";
import * as playback from "./views/playback.js";
import * as sync from "./views/sync.js";
import * as liveView from "./views/live.js";
import * as audit from "./views/audit.js";
import { refresh, watch } from "./session.js";

const ROUTES = [
  [/^#?\/?$/, "overview", overview],
  [/^#\/sources$/, "sources", sources],
  [/^#\/groups$/, "groups", groups],
  [/^#\/groups\/(\d+)$/, "groups", groups],
  [/^#\/tags$/, "tags", tags],
  [/^#\/tags\/(.+)$/, "tags", tags],
  [/^#\/play\/(.+)$/, "tags", playback],
  [/^#\/sync$/, "sync", sync],
  [/^#\/live$/, "live", liveView],
  [/^#\/live\/([\d,]+)$/, "live", liveView],
  [/^#\/audit$/, "audit", audit],
];

// Every navigation gets a number and a fresh element to draw in. A view still loading when the user
// moves on draws into an element no longer on the page, and when its render ends it is stopped at
// once: a slow view can never overwrite a newer one.
let navigation = 0;
let current = null; // {cleanup} of the view on screen

function leave(view) {
  try {
    view?.cleanup?.();
  } catch (err) {
    console.error("leaving a view:", err);
  }
}

async function route() {
  const id = ++navigation;
  leave(current);
  current = null;
  const hash = location.hash || "#/";
  const screen = h("div.screen");
  mount(document.getElementById("view"), screen);
  for (const [pattern, nav, module] of ROUTES) {
    const m = hash.match(pattern);
    if (!m) continue;
    for (const a of document.querySelectorAll("#nav a")) a.classList.toggle("active", a.dataset.route === nav);
    const args = m.slice(1).map(decodeURIComponent);
    let shown = null;
    try {
      shown = (await module.render(screen, ...args)) || null;
    } catch (err) {
      if (id === navigation) mount(screen, h("p.error", `Could not load this page: ${err.message}`));
      return;
    }
    if (id === navigation) current = shown;
    else {
      leave(shown);
      console.debug(`videorec: dropped the late render of ${hash}`);
    }
    return;
  }
  mount(screen, h("p", "No such page. ", h("a", { href: "#/" }, "Back to the overview")));
}

function askToken() {
  const dialog = document.getElementById("token-dialog");
  if (!dialog.open) dialog.showModal();
}

document.getElementById("token-form").addEventListener("submit", (ev) => {
  const value = new FormData(ev.target).get("token");
  token.set(String(value || "").trim());
  ev.target.reset();
  document.getElementById("signout").hidden = !token.get();
  refresh().then(route); // who this is decides what the views show

});
document.getElementById("signout").addEventListener("click", () => {
  token.set(null);
  location.reload();
});
document.getElementById("signout").hidden = !token.get();
whenUnauthorized(askToken);
watch(); // controls marked data-permission are hidden unless the role holds it (session.js)
window.addEventListener("hashchange", route);
refresh();
route();
