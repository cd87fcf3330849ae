// Plays a live fMP4 stream in a <video> through Media Source Extensions: the init segment, then each
// fragment as it comes, appended in "sequence" mode (a stream that restarts or skips to a keyframe
// goes on where the last one ended), the buffer trimmed behind the playhead.
//
// The live edge. Fragments come a few times a second, so right after one is appended the playhead is
// a fragment behind the newest frame, and just before the next one only a margin behind. That
// margin, taken as each fragment arrives (the trough), is what is watched: while even the smallest
// trough of the last second is above the target margin the video plays faster, in proportion (at
// most MAX_RATE), and at 1x once it is not, so playing faster never empties the buffer. (The old
// policy judged the rate right after an append: it stayed at 1.1x for good, ran dry before every
// fragment and stalled 3 to 5 times a second on a loaded machine, each stall costing frames.)
// - A stall with nothing left to play (video came late): the target margin grows a step, up to
//   MAX_MARGIN_S, and shrinks back a step after MARGIN_HOLD_MS without one.
// - A stall with video still buffered, or frames decoded too late to be shown (dropped): the decoder
//   (the CPU) is what is behind; asking it for more frames a second would make that worse, so there
//   is no faster play for DECODER_STALL_MS.
// - Far behind (a hidden tab, a long stall, a decoder that cannot keep up): jump to the newest frame.
const MARGIN_S = 0.15; // the target margin at first: the network's and the page's usual jitter
const MAX_MARGIN_S = 0.45;
const MARGIN_STEP_S = 0.05;
const MARGIN_HOLD_MS = 20000;
const GAIN = 0.5; // rate excess per second of trough above the target margin
const MAX_RATE = 1.2; // 1 s behind is made up in about 6 s
const DECODER_STALL_MS = 3000;
const DROPS = 3; // frames dropped within about a second that count as the decoder being behind
const START_BEHIND_S = 0.5; // a new viewer's first fragments span more than this: go to the newest
const JUMP_S = 2; // the newest frame further ahead than this: jump to it
const TROUGHS = 6; // troughs remembered (fragments every ≤ 200 ms: about a second)
const KEEP_S = 8; // seconds of video kept behind the playhead
const MAX_QUEUE = 60; // fragments waiting for the SourceBuffer (12 s): beyond, the oldest go

// The playbackRate for the smallest recent trough (s): 1 at or under the margin, faster above it.
export function catchUpRate(trough, margin = MARGIN_S) {
  if (!(trough > margin)) return 1;
  return Math.min(MAX_RATE, 1 + Math.round((trough - margin) * GAIN * 100) / 100);
}

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
    this.troughs = [];
    this.jumps = 0; // for the tile's diagnostics
    this.margin = MARGIN_S;
    this.marginAt = 0;
    this.decoderStallAt = -Infinity;
    this.dropped = []; // droppedVideoFrames as each of the last fragments arrived
    this.starting = false;
    video.addEventListener("waiting", () => this.stalled());
  }

  stalled() {
    const video = this.video;
    const b = video.buffered;
    if (!b.length || video.seeking || !this.troughs.length) return; // not playing yet
    if (b.end(b.length - 1) - video.currentTime > 0.1) {
      this.decoderStallAt = performance.now();
    } else {
      this.margin = Math.min(MAX_MARGIN_S, this.margin + MARGIN_STEP_S);
      this.marginAt = performance.now();
    }
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
    this.trough();
    this.queue.push(data);
    if (this.queue.length > MAX_QUEUE) this.queue.splice(0, this.queue.length - MAX_QUEUE);
    this.pump();
  }

  reset(codecs) {
    this.teardown();
    this.codecs = codecs;
    this.starting = true;
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

  // How far the playhead was behind the newest frame when this fragment arrived; sets the rate.
  trough() {
    const video = this.video;
    const b = video.buffered;
    if (!b.length || video.paused || video.seeking) return;
    this.troughs.push(b.end(b.length - 1) - video.currentTime);
    if (this.troughs.length > TROUGHS) this.troughs.shift();
    const now = performance.now();
    // Dropped frames: a few over the last second (not one now and then) say the decoder is behind.
    this.dropped.push(video.getVideoPlaybackQuality?.().droppedVideoFrames ?? 0);
    if (this.dropped.length > TROUGHS) this.dropped.shift();
    if (this.dropped.at(-1) - this.dropped[0] >= DROPS) this.decoderStallAt = now;
    if (this.margin > MARGIN_S && now - this.marginAt > MARGIN_HOLD_MS) {
      this.margin = Math.max(MARGIN_S, this.margin - MARGIN_STEP_S);
      this.marginAt = now;
    }
    const decoderBehind = now - this.decoderStallAt < DECODER_STALL_MS;
    const settled = this.troughs.length === TROUGHS && !decoderBehind;
    const rate = settled ? catchUpRate(Math.min(...this.troughs), this.margin) : 1;
    if (video.playbackRate !== rate) video.playbackRate = rate;
  }

  afterAppend() {
    const video = this.video;
    const b = video.buffered;
    if (b.length) {
      const start = b.start(b.length - 1);
      const end = b.end(b.length - 1);
      if (video.currentTime < start) {
        // The first picture (or a hole left by skipped fragments): show the keyframe at once, rather
        // than decode up to the newest frame before showing anything.
        video.currentTime = start;
        this.troughs.length = 0;
        this.starting = true;
      } else if (this.starting && !this.queue.length) {
        // A running camera sends a new viewer the fragments since its last keyframe (up to the
        // camera's keyframe interval) at once: once they are in, go to the newest frame instead of
        // playing that second faster.
        this.starting = false;
        if (end - video.currentTime > START_BEHIND_S) {
          video.currentTime = end - this.margin;
          this.troughs.length = 0;
        }
      } else if (end - video.currentTime > JUMP_S) {
        video.currentTime = end - this.margin; // far behind: jump
        this.troughs.length = 0;
        this.jumps += 1;
      }
      if (video.paused) video.play().catch(() => {});
    }
    this.pump();
  }

  teardown() {
    this.queue.length = 0;
    this.troughs.length = 0;
    this.dropped.length = 0;
    this.starting = false;
    this.buffer = null;
    this.source = null;
    this.codecs = null;
    if (this.url) URL.revokeObjectURL(this.url);
    this.url = null;
    this.video.removeAttribute("src");
    this.video.load();
  }
}
