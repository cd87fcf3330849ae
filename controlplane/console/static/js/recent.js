// The tags this browser opened, for the sync form's suggestions; the Recording page lists the
// service's own newest tags (GET /tags).
const RECENT_KEY = "videorec.recentTags";

export function recent() {
  try {
    return JSON.parse(localStorage.getItem(RECENT_KEY) || "[]");
  } catch {
    return [];
  }
}

export function remember(tag) {
  localStorage.setItem(RECENT_KEY, JSON.stringify([tag, ...recent().filter((t) => t !== tag)].slice(0, 20)));
}
