// #/live: the live wall of every camera; #/live/3,5,8: of those sources (the group page links here).
import { get } from "../api.js";
import { mount } from "../dom.js";
import { liveWall, wallSource } from "../live/wall.js";

export async function render(view, ids) {
  const all = await get("/source");
  let sources = all;
  let title = "Live: all cameras";
  if (ids) {
    const wanted = ids.split(",").map(Number);
    const byId = new Map(all.map((s) => [s.id, s]));
    sources = wanted.filter((id) => byId.has(id)).map((id) => byId.get(id));
    title = `Live: ${sources.length} camera${sources.length === 1 ? "" : "s"}`;
  }
  const wall = liveWall(sources.map(wallSource), { title });
  mount(view, wall.el);
  return { cleanup: () => wall.stop() };
}

