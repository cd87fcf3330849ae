// Wall clock <-> position in a record's file. The agent sets begin_utc to the first frame and keeps
// the camera's outages as gaps, so the file holds begin..end minus the gaps, back to back.

export function recordSpan(r, now = Date.now()) {
  const begin = Date.parse(r.begin_utc);
  const end = r.end_utc ? Date.parse(r.end_utc) : now;
  const gaps = (r.gaps || [])
    .map((g) => ({ start: Date.parse(g.start_utc), end: Date.parse(g.end_utc) }))
    .filter((g) => g.end > g.start)
    .sort((a, b) => a.start - b.start);
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
