// The tag's timeline: one lane per camera on one wall-clock axis, gaps drawn as gaps, a cursor at the
// clock. Zooms from the whole tag down to a few seconds (wheel, pinch, buttons); drag or click to seek.
import { h } from "./dom.js";
import { clockText } from "./timemap.js";

const MIN_SPAN_MS = 4000;
const TICK_SPACING_PX = 64; // a label "12:34:56" is ~55 px wide: ticks closer than this would overlap
const STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400].map((s) => s * 1000);

export class Timeline {
  constructor({ lanes, onSeek }) {
    this.lanes = lanes; // [{label, span, empty}]: an empty lane recorded nothing and gets no bar
    this.onSeek = onSeek;
    this.fit();
    this.cursor = h("div.tl-cursor");
    this.axis = h("div.tl-axis");
    this.rows = h("div.tl-rows");
    this.track = h("div.tl-track", this.axis, this.rows, this.cursor);
    this.el = h(
      "section.timeline",
      { "aria-label": "timeline" },
      h(
        "div.tl-tools",
        h("button", { title: "Zoom in", "aria-label": "zoom in", onclick: () => this.zoom(0.5) }, "+"),
        h("button", { title: "Zoom out", "aria-label": "zoom out", onclick: () => this.zoom(2) }, "−"),
        h("button", { title: "Whole tag", onclick: () => { this.fit(); this.draw(); } }, "Fit"),
        (this.range = h("span.small.muted")),
      ),
      this.track,
    );
    this.#bind();
    // As many ticks as the width holds (a phone holds fewer): drawn again when the width changes.
    this.width = 0;
    this.resized = new ResizeObserver(() => {
      const width = this.rows.clientWidth;
      if (width && width !== this.width) this.draw();
    });
    this.resized.observe(this.track);
  }

  destroy() {
    this.resized.disconnect();
  }

  extent() {
    const full = this.lanes.filter((l) => !l.empty);
    const lanes = full.length ? full : this.lanes;
    const begin = Math.min(...lanes.map((l) => l.span.begin));
    const end = Math.max(...lanes.map((l) => l.span.end));
    return { begin, end: Math.max(end, begin + MIN_SPAN_MS) };
  }

  fit() {
    const { begin, end } = this.extent();
    const pad = (end - begin) * 0.02;
    this.view = { start: begin - pad, end: end + pad };
  }

  zoom(factor, centre = null) {
    const { start, end } = this.view;
    const c = centre ?? (this.at !== undefined && this.at >= start && this.at <= end ? this.at : (start + end) / 2);
    const span = Math.max(MIN_SPAN_MS, (end - start) * factor);
    const f = (c - start) / (end - start);
    this.view = { start: c - span * f, end: c - span * f + span };
    this.draw();
  }

  pan(ms) {
    this.view = { start: this.view.start + ms, end: this.view.end + ms };
    this.draw();
  }

  x(ms) {
    return ((ms - this.view.start) / (this.view.end - this.view.start)) * 100;
  }

  timeAt(clientX) {
    const box = this.rows.getBoundingClientRect();
    const f = Math.min(1, Math.max(0, (clientX - box.left) / box.width));
    return this.view.start + f * (this.view.end - this.view.start);
  }

  #bind() {
    const pointers = new Map();
    let pinch = null;
    let panFrom = null;
    this.track.addEventListener("pointerdown", (ev) => {
      pointers.set(ev.pointerId, ev.clientX);
      this.track.setPointerCapture(ev.pointerId);
      if (pointers.size === 2) {
        const [a, b] = [...pointers.values()];
        pinch = { dist: Math.abs(a - b), view: { ...this.view }, centre: this.timeAt((a + b) / 2) };
      } else if (ev.target.closest(".tl-axis")) panFrom = { x: ev.clientX, view: { ...this.view } };
      else this.onSeek(this.timeAt(ev.clientX));
    });
    this.track.addEventListener("pointermove", (ev) => {
      if (!pointers.has(ev.pointerId)) return;
      pointers.set(ev.pointerId, ev.clientX);
      if (pinch && pointers.size === 2) {
        const [a, b] = [...pointers.values()];
        const factor = pinch.dist / Math.max(20, Math.abs(a - b));
        this.view = { ...pinch.view };
        this.zoom(factor, pinch.centre);
      } else if (panFrom) {
        const width = this.rows.getBoundingClientRect().width;
        const ms = ((panFrom.x - ev.clientX) / width) * (panFrom.view.end - panFrom.view.start);
        this.view = { start: panFrom.view.start + ms, end: panFrom.view.end + ms };
        this.draw();
      } else if (pointers.size === 1) this.onSeek(this.timeAt(ev.clientX));
    });
    const end = (ev) => {
      pointers.delete(ev.pointerId);
      if (pointers.size < 2) pinch = null;
      if (!pointers.size) panFrom = null;
    };
    this.track.addEventListener("pointerup", end);
    this.track.addEventListener("pointercancel", end);
    this.track.addEventListener(
      "wheel",
      (ev) => {
        ev.preventDefault();
        if (Math.abs(ev.deltaX) > Math.abs(ev.deltaY) || ev.shiftKey) {
          const width = this.rows.getBoundingClientRect().width;
          this.pan(((ev.deltaX || ev.deltaY) / width) * (this.view.end - this.view.start));
        } else this.zoom(ev.deltaY > 0 ? 1.25 : 0.8, this.timeAt(ev.clientX));
      },
      { passive: false },
    );
  }

  draw() {
    const span = this.view.end - this.view.start;
    this.width = this.rows.clientWidth;
    const most = Math.max(2, Math.min(8, Math.floor((this.width || 640) / TICK_SPACING_PX)));
    const step = STEPS.find((s) => span / s <= most) ?? STEPS[STEPS.length - 1];
    const edge = Math.min(10, (28 / (this.width || 640)) * 100); // half a label, in % of the width
    const ticks = [];
    const offset = new Date().getTimezoneOffset() * 60000; // ticks on round local times
    for (let t = Math.ceil((this.view.start - offset) / step) * step + offset; t <= this.view.end; t += step) {
      const text = step < 1000 * 60 ? clockText(t).slice(0, 8) : clockText(t).slice(0, 5);
      if (this.x(t) > 100 - edge || this.x(t) < edge) continue; // a label cut by an edge reads as a wrong time
      ticks.push(h("span.tl-tick", { style: { left: `${this.x(t)}%` } }, text));
    }
    this.axis.replaceChildren(...ticks);
    this.rows.replaceChildren(
      ...this.lanes.map((lane) => {
        const s = lane.span;
        if (lane.empty) return h("div.tl-lane.empty", h("span.tl-label", lane.label));
        const bar = h(`div.tl-bar${s.live ? ".live" : ""}`, { style: { left: `${this.x(s.begin)}%`, width: `${this.x(s.end) - this.x(s.begin)}%` } });
        const gaps = s.gaps.map((g) => h("div.tl-gap", { title: `no video ${clockText(g.start)} – ${clockText(g.end)}${g.detail ? `: ${g.detail}` : ""}`, style: { left: `${this.x(g.start)}%`, width: `${Math.max(0.3, this.x(g.end) - this.x(g.start))}%` } }));
        return h("div.tl-lane", h("span.tl-label", lane.label), bar, gaps);
      }),
    );
    this.range.textContent = `${clockText(this.view.start).slice(0, 8)} – ${clockText(this.view.end).slice(0, 8)} (${formatSpan(span)})`;
    this.setCursor(this.at ?? this.view.start);
  }

  setCursor(ms, follow = false) {
    this.at = ms;
    if (follow && (ms > this.view.end || ms < this.view.start)) {
      const span = this.view.end - this.view.start;
      this.view = { start: ms - span * 0.1, end: ms + span * 0.9 };
      this.draw();
      return;
    }
    const x = this.x(ms);
    this.cursor.style.left = `${x}%`;
    this.cursor.hidden = x < 0 || x > 100;
  }
}

function formatSpan(ms) {
  const s = ms / 1000;
  if (s < 120) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  if (s < 7200) return `${(s / 60).toFixed(1)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}
