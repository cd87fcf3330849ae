// Snapshots and live views. Without a token the browser loads the API's URLs itself (MJPEG included);
// with one, <img> cannot send the header, so the live view becomes a snapshot fetched every second.
import { mediaUrl, needsBlob } from "./api.js";
import { h } from "./dom.js";

export function snapshot(sourceId) {
  const img = h("img.snap", { alt: `snapshot of source ${sourceId}` });
  const ctl = new AbortController();
  mediaUrl(`/source/${sourceId}/picture`, ctl.signal)
    .then((url) => (img.src = url))
    .catch((err) => img.replaceWith(h("p.error", `No snapshot: ${err.message}`)));
  return img;
}

// Returns {el, stop}: a live view that stops pulling frames when stop() is called.
export function live(sourceId, delay = 0.5) {
  const img = h("img.live", { alt: `live view of source ${sourceId}`, dataset: { source: sourceId } });
  if (!needsBlob()) {
    img.src = `/api/v1/source/${sourceId}/video?delay=${delay}`;
    img.addEventListener("error", () => img.classList.add("broken"));
    // Dropping the src closes the endless MJPEG response.
    return { el: img, stop: () => img.removeAttribute("src") };
  }
  let stopped = false;
  let previous = null;
  const ctl = new AbortController();
  (async () => {
    while (!stopped) {
      const started = performance.now();
      try {
        const url = await mediaUrl(`/source/${sourceId}/picture`, ctl.signal);
        img.src = url;
        if (previous) URL.revokeObjectURL(previous);
        previous = url;
      } catch {
        img.classList.add("broken");
      }
      await new Promise((r) => setTimeout(r, Math.max(200, 1000 - (performance.now() - started))));
    }
  })();
  return {
    el: img,
    stop: () => {
      stopped = true;
      ctl.abort();
    },
  };
}
