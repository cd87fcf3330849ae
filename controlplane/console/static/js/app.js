// The console's shell: a hash router over the views, the token dialog, and refresh timers per view.
import { token, whenUnauthorized } from "./api.js";
import { mount, h } from "./dom.js";
import * as overview from "./views/overview.js";
import * as sources from "./views/sources.js";
import * as groups from "./views/groups.js";
import * as tags from "./views/tags.js";
import * as playback from "./views/playback.js";
import * as sync from "./views/sync.js";
import * as liveView from "./views/live.js";

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
];

let current = null; // {cleanup} of the view on screen

async function route() {
  if (current?.cleanup) current.cleanup();
  current = null;
  const view = document.getElementById("view");
  const hash = location.hash || "#/";
  for (const [pattern, nav, module] of ROUTES) {
    const m = hash.match(pattern);
    if (!m) continue;
    for (const a of document.querySelectorAll("#nav a")) a.classList.toggle("active", a.dataset.route === nav);
    const args = m.slice(1).map(decodeURIComponent);
    try {
      current = (await module.render(view, ...args)) || null;
    } catch (err) {
      mount(view, h("p.error", `Could not load this page: ${err.message}`));
    }
    return;
  }
  mount(view, h("p", "No such page. ", h("a", { href: "#/" }, "Back to the overview")));
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
  route();
});
document.getElementById("signout").addEventListener("click", () => {
  token.set(null);
  location.reload();
});
document.getElementById("signout").hidden = !token.get();
whenUnauthorized(askToken);
window.addEventListener("hashchange", route);
route();
