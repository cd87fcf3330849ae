// A tiny element builder: h("div.card", {onclick}, "text", child) — enough for a console without a framework.
export function h(tag, attrs, ...children) {
  const [name, ...classes] = tag.split(".");
  const el = document.createElement(name || "div");
  if (classes.length) el.className = classes.join(" ");
  if (attrs && (typeof attrs !== "object" || attrs instanceof Node || Array.isArray(attrs))) {
    children.unshift(attrs);
    attrs = null;
  }
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    // Through the CSSOM: the page's CSP refuses style attributes.
    else if (k === "style") Object.assign(el.style, v);
    else if (k in el && typeof v !== "string") el[k] = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function mount(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export function badge(status) {
  return h(`span.badge.s-${String(status).toLowerCase()}`, String(status));
}

export function bytes(n) {
  if (n === null || n === undefined) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i += 1;
  }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}

export function when(iso) {
  if (!iso) return "–";
  return new Date(iso).toLocaleString();
}

export function ago(iso) {
  if (!iso) return "never";
  const s = Math.round((Date.now() - Date.parse(iso)) / 1000);
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  return `${Math.round(s / 3600)} h ago`;
}

// A form field with its own error line, where a 422 message for that field is shown.
export function field(label, input, name) {
  const error = h("small.field-error", { role: "alert", "data-error-for": name });
  return h("label.field", { "data-field": name }, h("span", label), input, error);
}

export function showErrors(form, err) {
  for (const el of form.querySelectorAll(".field-error")) el.textContent = "";
  form.querySelector(".form-error")?.replaceChildren();
  if (!err) return;
  const errors = err.fieldErrors ? err.fieldErrors() : { "": String(err.message || err) };
  for (const [key, msg] of Object.entries(errors)) {
    // The deepest field that has an error line: "uri_http_picture.uri" before "uri_http_picture".
    let target = null;
    for (let parts = key.split("."); parts.length && !target; parts.pop())
      target = form.querySelector(`[data-error-for="${CSS.escape(parts.join("."))}"]`);
    target = target || form.querySelector(".form-error");
    if (target) target.textContent = (target.textContent ? target.textContent + "; " : "") + msg;
  }
}

export function toast(message, kind = "info") {
  const box = document.getElementById("toasts");
  const el = h(`div.toast.t-${kind}`, { role: "status" }, message);
  box.append(el);
  setTimeout(() => el.remove(), 5000);
}
