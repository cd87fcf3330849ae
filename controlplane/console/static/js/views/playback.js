// Playback of a tag: every record in one grid on one wall-clock timeline, one play/pause and one
// scrubber for all, each tile showing the wall time it is at and saying so when its camera was lost.
// The grid is 1, 2×2, 3×3 or 4×4 and sized to fit above the transport bar, which never covers a
// video; play stops at the end of the tag. A camera that recorded nothing gets a tile that says why,
// and no bar on the timeline.
import { get, getCached, recordMediaUrl } from "../api.js";
import { h, mount } from "../dom.js";
import { cameraName } from "../labels.js";
import { poll } from "../poll.js";
import { downloadLink, hasVideo, recordStatus, unreachableReason } from "../records.js";
import { SyncPlayer } from "../syncplayer.js";
import { Timeline } from "../timeline.js";
import { clockText, recordSpan, toWall } from "../timemap.js";

const TICK_MS = 100; // Viseron re-syncs every 100 ms as well; the rate nudging keeps it much tighter
const LIVE_RELOAD_MS = 4000;
const PLAYABLE = new Set(["recording", "stopping", "completed", "interrupted", "failed"]);
const MIN_TILE_W = 160; // px: below this the grid stops shrinking to fit and the page scrolls
const PHONE_W = 640;

export async function render(view, tag) {
  const records = (await get("/record", { tag_name: tag })).filter((r) => r.begin_utc && PLAYABLE.has(r.status));
  const back = h("p", h("a", { href: `#/tags/${encodeURIComponent(tag)}` }, `← ${tag}`));
  if (!records.length) {
    mount(view, back, h("p.muted", "This tag has no playable record yet."));
    return null;
  }
  if (!records.some(hasVideo)) {
    mount(view, back, h("h1", tag), h("p.muted", "Nothing was recorded under this tag."), h("ul", records.map((r) => h("li", `${cameraName(r)}: `, r.error || unreachableReason(r) || r.status))));
    return null;
  }
  const ctl = new AbortController();
  const urls = [];
  const tiles = records.map((r) => tile(r, ctl.signal, urls));
  const playable = tiles.filter((t) => t.video);
  const start = Math.min(...playable.map((t) => t.span.begin));
  // The end of the tag: its last video, or now while a camera still records.
  const end = () => (playable.some((t) => t.span.live) ? Date.now() : Math.max(...playable.map((t) => t.span.end)));
  const player = new SyncPlayer(playable, start, end);
  const timeline = new Timeline({
    lanes: tiles.map((t) => ({ label: t.video ? t.name : `${t.name}: nothing recorded`, span: t.span, empty: !t.video })),
    onSeek: (ms) => player.seek(ms),
  });

  const playBtn = h("button.primary.play", { id: "play", "aria-label": "play" }, "▶");
  playBtn.addEventListener("click", () => (player.playing ? player.pause() : player.play()));
  const clock = h("output.clock", { id: "wall-clock" });
  const status = h("span.small.muted", { id: "sync-status" });
  const rate = h("select", { "aria-label": "speed", onchange: () => player.setRate(Number(rate.value)) }, [0.25, 0.5, 1, 2, 4].map((r) => h("option", { value: r, selected: r === 1 }, `${r}×`)));
  const jump = (s) => h("button", { onclick: () => player.seek(player.now() + s * 1000), title: `${s > 0 ? "+" : ""}${s} s` }, s > 0 ? `+${s}s` : `${s}s`);

  const grid = h("div.playgrid", { dataset: { count: tiles.length } }, tiles.map((t) => t.el));
  const transport = h("div.transport", h("div.controls", jump(-10), playBtn, jump(10), rate, clock, status), timeline.el);
  mount(view, back, h("div.play-head", h("h1", tag), h("span.muted", `${records.length} camera${records.length > 1 ? "s" : ""}`)), grid, transport);
  timeline.draw();

  // Columns for a square-ish grid (4 cameras: 2×2), at most 2 on a phone; the grid as wide as lets
  // its rows fit between its top and the transport bar.
  function fit() {
    const n = tiles.length;
    const cols = Math.min(window.innerWidth < PHONE_W ? 2 : 4, Math.ceil(Math.sqrt(n)));
    const rows = Math.ceil(n / cols);
    const gap = parseFloat(getComputedStyle(grid).columnGap) || 0;
    grid.style.gridTemplateColumns = `repeat(${cols}, minmax(0, 1fr))`;
    const top = grid.getBoundingClientRect().top + window.scrollY;
    const below = transport.offsetHeight + 24; // the transport and the margins around it
    const tileH = (window.innerHeight - top - below - gap * (rows - 1)) / rows;
    const width = Math.max(MIN_TILE_W, (tileH * 16) / 9) * cols + gap * (cols - 1);
    grid.style.maxWidth = `${Math.floor(width)}px`;
  }
  fit();
  window.addEventListener("resize", fit);

  player.onTick((p) => {
    const now = p.now();
    playBtn.textContent = p.playing ? "❚❚" : "▶";
    playBtn.setAttribute("aria-label", p.playing ? "pause" : "play");
    clock.textContent = clockText(now, true);
    clock.dataset.wallMs = String(Math.round(now));
    status.textContent = p.waiting ? "buffering…" : p.playing ? `in sync ±${p.maxDriftMs} ms` : p.atEnd ? "end of the tag" : "paused";
    timeline.setCursor(now, p.playing);
    for (const t of playable) t.showClock();
  });
  const timer = setInterval(() => player.tick(), TICK_MS);
  // A tag still recording: the lanes grow with the clock, a tile at the live edge is reloaded for the
  // newer bytes, and the records are read again (a 304 while nothing changed) to learn where each
  // ends once it is stopped: then the tag has an end, and play stops there.
  const live = () => playable.filter((t) => t.span.live);
  const grow = live().length
    ? setInterval(() => {
        for (const t of live()) {
          t.span.end = Date.now();
          if (t.state === "edge") t.load();
        }
        timeline.draw();
      }, LIVE_RELOAD_MS)
    : null;
  const follow = live().length
    ? poll({
        what: `the records of ${tag}`,
        every: LIVE_RELOAD_MS,
        el: grid,
        load: () => getCached("/record", { tag_name: tag }),
        show: (list) => {
          for (const r of list) {
            const t = playable.find((x) => x.record.id === r.id);
            if (!t || !t.span.live || !r.end_utc) continue;
            t.record = r; // ended: its final file, named by its MD5, and its final span
            Object.assign(t.span, recordSpan(r));
            if (t.state === "edge" || t.state === "after") t.load();
          }
          if (!live().length) follow.stop();
          timeline.draw();
        },
      })
    : null;
  const keys = (ev) => {
    if (ev.target.closest("input, select, textarea")) return;
    if (ev.key === " ") {
      ev.preventDefault();
      playBtn.click();
    } else if (ev.key === "ArrowLeft" || ev.key === "ArrowRight") player.seek(player.now() + (ev.key === "ArrowLeft" ? -5000 : 5000));
  };
  document.addEventListener("keydown", keys);
  player.seek(start);
  return {
    cleanup: () => {
      clearInterval(timer);
      clearInterval(grow);
      follow?.stop();
      document.removeEventListener("keydown", keys);
      window.removeEventListener("resize", fit);
      timeline.destroy();
      ctl.abort();
      for (const t of playable) t.video.removeAttribute("src");
      for (const u of urls) URL.revokeObjectURL(u);
    },
  };
}

function tile(r, signal, urls) {
  const span = recordSpan(r);
  const name = cameraName(r);
  const [badge] = recordStatus(r);
  if (!hasVideo(r)) {
    // Nothing to play: say why instead of a player that would fail on a file that does not exist.
    const why = unreachableReason(r) !== null ? `Camera unreachable: ${unreachableReason(r)}` : r.error || "Nothing was recorded";
    const el = h("figure.ptile", { dataset: { recordId: r.id, state: "empty" } }, h("figcaption", h("span", name), badge), h("div.note", why));
    return { record: r, span, el, name, video: null };
  }
  const video = h("video", { muted: true, playsInline: true, preload: "auto", dataset: { recordId: r.id, beginMs: span.begin, gaps: JSON.stringify(span.gaps) } });
  const stamp = h("time.stamp");
  const note = h("div.note");
  const el = h("figure.ptile", { dataset: { recordId: r.id } }, video, h("figcaption", h("span", name), badge), note, stamp, h("div.tile-foot", downloadLink(r), r.hash_md5 ? h("span.mono.small", { title: "MD5 of the file" }, `MD5 ${r.hash_md5}`) : null));
  const t = { record: r, span, video, el, name, failed: false, active: false, state: "" };
  video.addEventListener("error", () => {
    // A signed URL that expired while the tile was paused or buffering: ask for a new one once, and go
    // back to where the tile was (a second failure in a row is a real one).
    if (t.signed && !t.renewing) {
      t.renewing = true;
      const at = video.currentTime;
      t.load().then(() => {
        if (!t.failed) video.addEventListener("loadedmetadata", () => (video.currentTime = at), { once: true });
      });
      return;
    }
    t.failed = true;
    note.textContent = "This file cannot be played here.";
    el.dataset.state = "error";
  });
  // A record still recording: reloaded when the clock reaches what was loaded, to get the newer bytes.
  // The URL names the bytes: a browser may keep a response, and the file grows until it is finished.
  video.addEventListener("loadeddata", () => (t.renewing = false));
  t.load = () =>
    recordMediaUrl(r.id, t.record.hash_md5 ? { md5: t.record.hash_md5 } : { at: Date.now() }, signal)
      .then(({ url, signed }) => {
        if (url.startsWith("blob:")) urls.push(url);
        t.failed = false;
        t.signed = signed;
        video.src = url;
      })
      .catch((err) => {
        t.failed = true;
        note.textContent = `No video: ${err.message}`;
      });
  t.load();
  t.onState = (state, at) => {
    if (t.failed || state === t.state) return;
    t.state = state;
    el.dataset.state = state;
    note.textContent = {
      before: "Not recording yet",
      after: "Recording ended",
      edge: "Live edge: no newer video yet",
      gap: at.gap ? `Camera lost ${clockText(at.gap.start).slice(0, 8)} – ${clockText(at.gap.end).slice(0, 8)}` : "Camera lost",
      play: "",
    }[state];
  };
  // The time the picture on screen is from, read from the video itself, not from the clock.
  t.showClock = () => {
    stamp.textContent = video.readyState ? clockText(toWall(span, video.currentTime), true) : "loading…";
  };
  return t;
}
