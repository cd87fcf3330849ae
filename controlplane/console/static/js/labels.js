// How a source is named on every page.
export function label(src) {
  return src.description ? `${src.description} (#${src.id})` : `#${src.id}`;
}

// The camera of a record (its source may have been deleted since).
export function cameraName(r) {
  return r.source?.description || `source ${r.source?.id ?? "deleted"}`;
}
