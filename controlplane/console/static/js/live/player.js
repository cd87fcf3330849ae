// Plays a live fMP4 stream in a <video> through Media Source Extensions: the init segment, then each
// fragment as it comes, appended in "sequence" mode (a stream that restarts or skips to a keyframe
// goes on where the last one ended), the buffer trimmed behind the playhead, and the playhead pulled
// to the live edge whenever it falls behind (a hidden tab, a slow machine).
const BEHIND_S = 1.5; // further than this from the newest frame: jump to it
const CATCH_UP_S = 0.5; // further than this: play 10 % faster until back at the edge
const EDGE_S = 0.15; // where to land: just short of the newest frame, so playback does not stall
const KEEP_S = 8; // seconds of video kept behind the playhead
const MAX_QUEUE = 60; // fragments waiting for the SourceBuffer (12 s): beyond, the oldest go

export function mimeType(codecs) {
  return `video/mp4; codecs="${codecs}"`;
}

// Why this browser cannot play `codecs`, or null when it can.
export function unplayable(codecs) {
  if (!window.MediaSource) return "This browser has no Media Source Extensions: live video cannot play here.";
  if (MediaSource.isTypeSupported(mimeType(codecs))) return null;
  if (/^(hvc1|hev1)/.test(codecs)) {
    return `This camera sends H.265 (${codecs}), which this browser cannot play. Use a browser with H.265 support (Safari, or Chrome/Edge with hardware decoding), or set the camera to H.264.`;
  }
  return `This browser cannot play the camera's video (${codecs}).`;
}

export class MsePlayer {
  constructor(video) {
    this.video = video;
    this.codecs = null;
    this.source = null;
    this.buffer = null;
    this.queue = [];
    this.url = null;
  }

  // A (new) init segment: same codecs continue the same buffer, others start a new MediaSource.
  init(codecs, data) {
    if (this.codecs !== codecs || !this.source) this.reset(codecs);
    this.queue.length = 0; // fragments of the old stream do not fit the new init
    this.queue.push(data);
    this.pump();
  }

  fragment(data) {
    if (!this.codecs) return;
    this.queue.push(data);
    if (this.queue.length > MAX_QUEUE) this.queue.splice(0, this.queue.length - MAX_QUEUE);
    this.pump();
  }

  reset(codecs) {
    this.teardown();
    this.codecs = codecs;
    const source = new MediaSource();
    this.source = source;
    this.url = URL.createObjectURL(source);
    this.video.src = this.url;
    source.addEventListener(
      "sourceopen",
      () => {
        if (this.source !== source) return;
        this.buffer = source.addSourceBuffer(mimeType(codecs));
        this.buffer.mode = "sequence";
        this.buffer.addEventListener("updateend", () => this.afterAppend());
        this.pump();
      },
      { once: true },
    );
  }

  pump() {
    const sb = this.buffer;
    if (!sb || sb.updating || !this.queue.length || this.source?.readyState !== "open") return;
    const video = this.video;
    const b = sb.buffered;
    if (b.length && video.currentTime - b.start(0) > KEEP_S * 2) {
      sb.remove(0, video.currentTime - KEEP_S); // updateend comes back here
      return;
    }
    try {
      sb.appendBuffer(this.queue.shift());
    } catch (err) {
      if (err.name === "QuotaExceededError" && b.length) sb.remove(0, Math.max(b.start(0) + 1, video.currentTime - 1));
      else throw err;
    }
  }

  afterAppend() {
    const video = this.video;
    const b = video.buffered;
    if (b.length) {
      const start = b.start(b.length - 1);
      const end = b.end(b.length - 1);
      if (video.currentTime < start) {
        // The first picture (or a hole left by skipped fragments): start at the keyframe at once,
        // rather than decode up to the newest frame before showing anything.
        video.currentTime = start;
      } else if (end - video.currentTime > BEHIND_S) {
        video.currentTime = end - EDGE_S; // far behind (a hidden tab, a slow machine): jump
      }
      // A little behind: catch up gently, without a jump.
      const behind = end - video.currentTime;
      video.playbackRate = behind > CATCH_UP_S ? 1.1 : behind < EDGE_S ? 1 : video.playbackRate;
      if (video.paused) video.play().catch(() => {});
    }
    this.pump();
  }

  teardown() {
    this.queue.length = 0;
    this.buffer = null;
    this.source = null;
    this.codecs = null;
    if (this.url) URL.revokeObjectURL(this.url);
    this.url = null;
    this.video.removeAttribute("src");
    this.video.load();
  }
}
