// Who is signed in, and what their role may do. Views mark the controls of an action with
// data-permission="delete_files" (a permission of GET /api/v1/me); this hides and disables those the
// role lacks, in whatever a view draws, whenever it draws it. It is a courtesy, not the guard: the
// API refuses them all the same (403).
import { get, token } from "./api.js";

let me = null; // GET /api/v1/me, once known

export const session = {
  get me() {
    return me;
  },
};

// Until /me has answered, nothing marked is shown: a viewer never sees a delete button flash by.
export function may(permission) {
  return Boolean(me && me.permissions.includes(permission));
}

export function applyPermissions(root = document.body) {
  const marked = root.matches?.("[data-permission]") ? [root] : [];
  for (const el of [...marked, ...root.querySelectorAll("[data-permission]")]) {
    const allowed = may(el.dataset.permission);
    el.hidden = !allowed;
    // Disabled too (a hidden button can still be clicked by a script); an allowed one is left as the
    // view made it (a Start button may be disabled for want of groups).
    if (!allowed && "disabled" in el) el.disabled = true;
    if (el.tagName === "FORM") el.inert = !allowed;
  }
}

function showWho() {
  const who = document.getElementById("whoami");
  if (!who) return;
  if (!me) {
    who.textContent = "";
    return;
  }
  const name = me.authentication ? me.name || "(unnamed)" : "open mode (no sign-in)";
  who.textContent = `${name} · ${me.role || "no role"}`;
  who.title = me.authentication ? `signed in with ${me.kind === "sso" ? "single sign-on" : me.kind === "token" ? "the bootstrap token" : "a key"}` : "no authentication configured: everyone on this machine is admin";
  who.dataset.role = me.role || "";
}

// Ask the service who we are (after a sign-in, or on load). A 401 opens the sign-in dialog (api.js).
export async function refresh() {
  try {
    me = await get("/me");
  } catch {
    me = null;
  }
  showWho();
  applyPermissions();
  document.getElementById("signout").hidden = !token.get();
  return me;
}

// Whatever a view draws later is checked as it lands.
export function watch(root = document.body) {
  new MutationObserver((changes) => {
    for (const change of changes)
      for (const node of change.addedNodes) if (node.nodeType === Node.ELEMENT_NODE) applyPermissions(node);
  }).observe(root, { childList: true, subtree: true });
}
