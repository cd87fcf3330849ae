// One tile of the live wall: the camera's video (MSE), and under it — never over the picture — its
// name and state: connecting, live, reconnecting (why), offline (why), recording. Each tile keeps
// `liveStats` (first frame and what came before it, frames shown, stalls, jumps to the live edge, the
// margin kept, delivery delay) for the operator's diagnostics, the tests and bench/live_wall.py.
import { h } from "../dom.js";
import { live } from "../media.js";
import { MsePlayer, unplayable } from "./player.js";

const NTP_TO_UNIX = 2208988800;
const LABELS = { connecting: "connecting…", live: "live", reconnecting: "reconnecting", offline: "offline", unsupported: "cannot play" };

// The wall-clock time (Unix s) in a fragment's leading prft box, or null.
function prftTime(data) {
  if (data.length < 24 || String.fromCharCode(...data.subarray(4, 8)) !== "prft") return null;
  const view = new DataView(data.buffer, data.byteOffset, 24);
  return view.getUint32(16) - NTP_TO_UNIX + view.getUint32(20) / 2 ** 32;
}

export function liveTile(connection, tileId, source) {
  const video = h("video", { muted: true, autoplay: true, playsInline: true, disablePictureInPicture: true });
  video.muted = true; // the attribute alone does not mute: autoplay needs the property
  const note = h("p.note", { role: "status" });
  const state = h("span.badge.s-connecting", LABELS.connecting);
  const rec = h("span.rec-dot", { hidden: true, title: "recording" }, "● REC");
  const detail = h("span.detail.muted");
  const el = h(
    "figure.live-tile",
    { dataset: { source: source.id, state: "connecting" } },
    h("div.live-screen", video, note),
    h("figcaption", h("span.name", source.name || `source ${source.id}`), rec, state, detail),
  );
  const player = new MsePlayer(video);
  const stats = {
    openedAt: performance.now(),
    initMs: null, // the init segment came (ms after the tile opened)
    fragmentMs: null, // the first fragment came
    firstFrameMs: null, // the first picture was shown
    frames: 0,
    stalls: 0,
    jumps: 0,
    marginS: null,
    delays: [],
    state: "connecting",
  };
  el.liveStats = stats;
  let codecs = null;
  let blocked = false;
  let presentedAtStart = null;

  function show(name, why = "") {
    stats.state = name;
    el.dataset.state = name;
    state.className = `badge s-${name}`;
    state.textContent = LABELS[name] || name;
    detail.textContent = why;
    detail.title = why;
    note.textContent = name === "live" ? "" : name === "connecting" ? "" : why || LABELS[name];
  }

  function onFrame(_now, meta) {
    if (presentedAtStart === null) {
      presentedAtStart = meta.presentedFrames - 1;
      stats.firstFrameMs = performance.now() - stats.openedAt;
    }
    stats.frames = meta.presentedFrames - presentedAtStart;
    stats.jumps = player.jumps;
    stats.marginS = player.margin;
    video.requestVideoFrameCallback(onFrame);
  }
  if ("requestVideoFrameCallback" in video) video.requestVideoFrameCallback(onFrame);
  // The picture froze for want of video (counted once playing): what a stall costs is frames.
  video.addEventListener("waiting", () => {
    if (stats.firstFrameMs !== null) stats.stalls += 1;
  });

  connection.open(tileId, source.id, {
    onStatus(message) {
      if (message.recording !== undefined) rec.hidden = !message.recording;
      if (message.codecs) codecs = message.codecs;
      if (message.state === "live" && codecs) {
        const why = unplayable(codecs);
        blocked = Boolean(why);
        if (why) return show("unsupported", why);
      }
      if (blocked) return;
      show(message.state, message.detail || "");
    },
    onInit(data) {
      if (!codecs || blocked) return;
      stats.initMs ??= performance.now() - stats.openedAt;
      player.init(codecs, data);
    },
    onFragment(data) {
      if (blocked) return;
      stats.fragmentMs ??= performance.now() - stats.openedAt;
      const made = prftTime(data);
      if (made !== null) {
        stats.delays.push(Date.now() / 1000 - made);
        if (stats.delays.length > 300) stats.delays.shift();
      }
      player.fragment(data);
    },
  });

  return {
    el,
    stop() {
      connection.close(tileId);
      player.teardown();
    },
  };
}

// A still-image camera has no video to pass through: its tile shows its pictures (MJPEG, or one
// snapshot a second with a token), as the rest of the console does.
export function pictureTile(source) {
  const view = live(source.id);
  const el = h(
    "figure.live-tile",
    { dataset: { source: source.id, state: "live" } },
    h("div.live-screen", view.el),
    h("figcaption", h("span.name", source.name || `source ${source.id}`), h("span.badge.s-live", "pictures")),
  );
  return { el, stop: () => view.stop() };
}
