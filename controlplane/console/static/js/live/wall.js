// The live wall: tiles of the given sources in a 1, 4, 9 or 16 layout (pages when there are more),
// full screen on request, all tiles on one LiveConnection.
import { h } from "../dom.js";
import { label } from "../labels.js";
import { LiveConnection } from "./connection.js";
import { liveTile, pictureTile } from "./tile.js";

export const LAYOUTS = [1, 4, 9, 16];
let nextTile = 1; // tile ids are never reused, so a late message cannot reach a new tile

export function fitLayout(count) {
  return LAYOUTS.find((n) => n >= count) || 16;
}

export function liveWall(sources, { title = "Live", layout } = {}) {
  const connection = new LiveConnection();
  let size = layout || fitLayout(sources.length);
  let page = 0;
  let tiles = [];
  const grid = h("div.live-grid");
  const pageLabel = h("span.muted.live-page");
  const prev = h("button", { type: "button", onclick: () => turn(-1), "aria-label": "previous page" }, "‹");
  const next = h("button", { type: "button", onclick: () => turn(1), "aria-label": "next page" }, "›");
  const layoutButtons = LAYOUTS.map((n) =>
    h("button", { type: "button", dataset: { layout: n }, onclick: () => setLayout(n), title: `${n} per screen` }, String(n)),
  );
  const el = h("section.live-wall");
  const full = h("button", { type: "button", onclick: toggleFullscreen }, "Full screen");
  el.append(
    h("div.live-bar", h("h2", title), h("span.live-layouts", { role: "group", "aria-label": "layout" }, layoutButtons), prev, pageLabel, next, full),
    grid,
  );
  if (!sources.length) grid.append(h("p.muted", "No cameras to show."));

  function pages() {
    return Math.max(1, Math.ceil(sources.length / size));
  }

  function render() {
    for (const t of tiles) t.stop();
    const shown = sources.slice(page * size, page * size + size);
    tiles = shown.map((s) => (s.picture ? pictureTile(s) : liveTile(connection, nextTile++, s)));
    grid.dataset.layout = String(size);
    if (shown.length) grid.replaceChildren(...tiles.map((t) => t.el));
    for (const b of layoutButtons) b.setAttribute("aria-pressed", String(Number(b.dataset.layout) === size));
    pageLabel.textContent = pages() > 1 ? `page ${page + 1} of ${pages()}` : "";
    prev.hidden = next.hidden = pages() <= 1;
  }

  function setLayout(n) {
    size = n;
    page = Math.min(page, pages() - 1);
    render();
  }

  function turn(step) {
    page = (page + step + pages()) % pages();
    render();
  }

  function toggleFullscreen() {
    if (document.fullscreenElement) document.exitFullscreen();
    else el.requestFullscreen?.().catch(() => {});
  }

  render();
  return {
    el,
    stop() {
      for (const t of tiles) t.stop();
      tiles = [];
      connection.shutdown();
    },
  };
}

// What a tile needs of a source: a still-image camera has no video stream, its tile shows pictures.
export function wallSource(s) {
  return { id: s.id, name: label(s), picture: s.model === "PictureSource" };
}
