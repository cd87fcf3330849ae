// One wall clock drives every <video> of a tag. Each video is steered to the clock: a seek when it is
// far off, a slightly faster or slower playbackRate when it is close, so drift is corrected without
// visible jumps. While any camera is still seeking or buffering, the clock waits for it. The clock stops
// at the end of the tag (`endWall()`); play there starts again from the beginning.
import { toMedia } from "./timemap.js";

const HARD_SEEK_S = 0.3; // farther off than this: jump
const SOFT_BAND_S = 0.015; // closer than this: leave the rate alone
const MAX_RATE_NUDGE = 0.1;

export class SyncPlayer {
  constructor(tiles, startWall, endWall = () => Infinity) {
    this.tiles = tiles; // [{span, video, onState(state, info)}]
    this.startWall = startWall;
    this.endWall = endWall;
    this.atEnd = false;
    this.wall = startWall;
    this.rate = 1;
    this.playing = false;
    this.waiting = false;
    this.anchor = performance.now();
    this.listeners = new Set();
    this.maxDriftMs = 0;
  }

  now() {
    if (!this.playing || this.waiting) return this.wall;
    return this.wall + (performance.now() - this.anchor) * this.rate;
  }

  #freeze() {
    this.wall = this.now();
    this.anchor = performance.now();
  }

  play() {
    this.#freeze();
    if (this.wall >= this.endWall()) this.seek(this.startWall);
    this.playing = true;
    this.tick();
  }

  pause() {
    this.#freeze();
    this.playing = false;
    this.tick();
  }

  setRate(rate) {
    this.#freeze();
    this.rate = rate;
    this.tick();
  }

  seek(wall) {
    this.wall = Math.max(this.startWall, Math.min(wall, this.endWall()));
    this.anchor = performance.now();
    for (const t of this.tiles) this.#place(t, true);
    this.tick();
  }

  onTick(fn) {
    this.listeners.add(fn);
  }

  // Called every ~100 ms and after every command.
  tick() {
    const end = this.endWall();
    this.atEnd = this.now() >= end;
    if (this.playing && this.atEnd) {
      this.wall = end;
      this.anchor = performance.now();
      this.playing = false;
    }
    const blocking = this.tiles.filter((t) => t.active && !t.failed && (t.video.seeking || t.video.readyState < 3));
    const waiting = this.playing && blocking.length > 0;
    if (waiting !== this.waiting) {
      this.#freeze();
      this.waiting = waiting;
    }
    let drift = 0;
    for (const t of this.tiles) drift = Math.max(drift, this.#place(t, false));
    this.maxDriftMs = Math.round(drift * 1000);
    for (const fn of this.listeners) fn(this);
  }

  // Puts one video where the clock says; returns how far off it was (seconds).
  #place(t, force) {
    const at = toMedia(t.span, this.now());
    const v = t.video;
    const edge = availableEnd(v);
    let state = at.state;
    if (state === "play" && edge !== null && at.media > edge + 0.05) state = "edge";
    t.active = state === "play";
    t.onState(state, at);
    if (t.failed || v.readyState === 0) return 0;
    if (!t.active) {
      if (!v.paused) v.pause();
      const hold = state === "before" ? 0 : Math.min(at.media, edge ?? at.media);
      if (force || Math.abs(v.currentTime - hold) > 0.05) v.currentTime = hold;
      return 0;
    }
    const drift = v.currentTime - at.media;
    const running = this.playing && !this.waiting;
    if (force || (!v.seeking && Math.abs(drift) > (running ? HARD_SEEK_S : SOFT_BAND_S))) {
      v.currentTime = at.media;
      v.playbackRate = this.rate;
    } else if (running && !v.seeking) {
      const nudge = Math.abs(drift) < SOFT_BAND_S ? 0 : Math.max(-MAX_RATE_NUDGE, Math.min(MAX_RATE_NUDGE, drift));
      v.playbackRate = this.rate * (1 - nudge);
    }
    if (running && v.paused) v.play().catch(() => {});
    if (!running && !v.paused) v.pause();
    return v.seeking ? 0 : Math.abs(drift);
  }
}

// The last second a video can show: its duration, or for a file still growing what it has buffered.
function availableEnd(v) {
  if (Number.isFinite(v.duration) && v.duration > 0) return v.duration;
  if (v.seekable.length) return v.seekable.end(v.seekable.length - 1);
  return null;
}
