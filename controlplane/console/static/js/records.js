// What a record shows on the Recording and Playback pages, read from what the API reports of it.
//
// The API reports no size while a record is recording and no gap while its camera is still away (a
// gap is reported once it ends), and a record keeps its last error after the camera came back. So:
// - its camera is unreachable now when the record is running and its source is offline (or the
//   record has an error and its source has not been seen online): the reason is the record's error,
//   in the camera's words, or else what the source's probe found;
// - it holds video when it has a size or an MD5; an ended record with neither holds none (its agent
//   had nothing to make a file of: the API answers 404 for its file); a running one holds video
//   unless its camera has been unreachable with no gap so far (then nothing is known to be recorded).
import { needsBlob, recordMediaUrl } from "./api.js";
import { badge, h, toast } from "./dom.js";

const ACTIVE = new Set(["pending", "recording", "stopping"]);
const ENDED_BADLY = new Set(["failed", "interrupted"]);

export const isActive = (r) => ACTIVE.has(r.status);

export function unreachableReason(r) {
  if (!isActive(r)) return null;
  const src = r.source;
  const offline = src?.status === "offline" || (r.error && src && src.status !== "online");
  if (!offline) return null;
  return r.error || src?.status_detail || "no answer";
}

export function hasVideo(r) {
  if (r.hash_md5 || r.size_bytes > 0) return true;
  if (!isActive(r)) return false;
  return !(unreachableReason(r) !== null && !(r.gaps || []).length);
}

// The status badge and the line under it.
export function recordStatus(r) {
  const reason = unreachableReason(r);
  if (reason !== null) return [h("span.badge.s-offline", { title: `record ${r.status}` }, "camera unreachable"), h("div.small.error.why", reason)];
  if (!r.error) return [badge(r.status)];
  const bad = ENDED_BADLY.has(r.status);
  return [badge(r.status), h(`div.small.why.${bad ? "error" : "muted"}`, bad ? r.error : `last error: ${r.error}`)];
}

export function downloadLink(r) {
  if (!hasVideo(r) || r.status === "deleted") return null;
  const path = `/record/${r.id}/video/`;
  const name = `${r.tag_name}-${r.source?.id ?? "x"}-${r.id.slice(0, 8)}.mp4`;
  if (!needsBlob()) return h("a.small", { href: `/api/v1${path}`, download: name }, "Download");
  // With a token the link cannot carry it: a signed URL to the agent (streamed; a browser names a
  // cross-origin download itself), or the blob when the agent serves no direct URLs.
  return h(
    "button.link.small",
    {
      onclick: async () => {
        try {
          const { url, signed } = await recordMediaUrl(r.id, {});
          h("a", { href: url, download: name, target: signed ? "_blank" : "", rel: "noopener" }).click();
          if (!signed) setTimeout(() => URL.revokeObjectURL(url), 10000);
        } catch (err) {
          toast(err.message, "error");
        }
      },
    },
    "Download",
  );
}
