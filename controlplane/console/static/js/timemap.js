// Wall clock <-> position in a record's file. The file holds begin..end minus the gaps, back to back.
// begin_utc is the agent's estimate of the first frame and was seen ~0.8 s early (the camera's
// connection time), while end_utc is the stop, known to a few ms; so when the file's length is
// known, the file is placed by its end, and begin_utc only places a record still recording.
const MAX_BEGIN_FIX_MS = 5000;

export function recordSpan(r, now = Date.now()) {
  let begin = Date.parse(r.begin_utc);
  const end = r.end_utc ? Date.parse(r.end_utc) : now;
  const gaps = (r.gaps || [])
    .map((g) => ({ start: Date.parse(g.start_utc), end: Date.parse(g.end_utc), detail: g.detail || "" }))
    .filter((g) => g.end > g.start)
    .sort((a, b) => a.start - b.start);
  if (r.end_utc && r.duration_s) {
    const missed = gaps.reduce((n, g) => n + (g.end - g.start), 0);
    const fix = end - begin - missed - r.duration_s * 1000;
    if (Math.abs(fix) <= MAX_BEGIN_FIX_MS) begin += fix;
  }
  return { id: r.id, begin, end, live: !r.end_utc, gaps };
}

// {state: "before"|"gap"|"play"|"after", media: seconds into the file, gap?}
export function toMedia(span, wall) {
  if (wall < span.begin) return { state: "before", media: 0 };
  let skipped = 0;
  for (const g of span.gaps) {
    if (wall < g.start) break;
    if (wall < g.end) return { state: "gap", media: (g.start - span.begin - skipped) / 1000, gap: g };
    skipped += g.end - g.start;
  }
  const media = (wall - span.begin - skipped) / 1000;
  if (wall > span.end) return { state: "after", media: (span.end - span.begin - skipped) / 1000 };
  return { state: "play", media };
}

export function toWall(span, media) {
  let wall = span.begin + media * 1000;
  for (const g of span.gaps) {
    if (wall < g.start) break;
    wall += g.end - g.start;
  }
  return wall;
}

const pad = (n, w = 2) => String(n).padStart(w, "0");
export function clockText(ms, withDate = false) {
  const d = new Date(ms);
  const time = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
  return withDate ? `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${time}` : time;
}
