// The audit trail (admins): who did what, when, from where, with what result; filters and paging.
import { get } from "../api.js";
import { h, mount, when } from "../dom.js";

const PAGE = 50;

export async function render(view) {
  const filters = { user: "", action: "", target: "", since: "" };
  let offset = 0;
  const table = h("div");
  const form = h(
    "form.inline",
    { id: "audit-form", onsubmit: (ev) => { ev.preventDefault(); const data = new FormData(form); for (const k of Object.keys(filters)) filters[k] = String(data.get(k) || "").trim(); offset = 0; load(); } },
    h("input", { name: "user", placeholder: "user", "aria-label": "user" }),
    h("input", { name: "action", placeholder: "action (e.g. delete_record_file)", "aria-label": "action" }),
    h("input", { name: "target", placeholder: "target (e.g. tag:match-1)", "aria-label": "target" }),
    h("input", { name: "since", type: "datetime-local", "aria-label": "since" }),
    h("button.primary", { type: "submit" }, "Filter"),
  );
  const newer = h("button", { onclick: () => { offset = Math.max(0, offset - PAGE); load(); } }, "← Newer");
  const older = h("button", { onclick: () => { offset += PAGE; load(); } }, "Older →");
  mount(view, h("h1", "Audit trail"), h("section.card", form, table, h("menu", newer, older)));

  async function load() {
    const query = { offset, limit: PAGE, user: filters.user, action: filters.action, target: filters.target };
    if (filters.since) query.since = new Date(filters.since).toISOString();
    const entries = await get("/audit", query);
    newer.disabled = offset === 0;
    older.disabled = entries.length < PAGE;
    mount(
      table,
      entries.length
        ? h(
            "table.grid",
            { id: "audit-table" },
            h("thead", h("tr", ["Time", "Who", "Role", "Action", "Target", "Result", "Client"].map((t) => h("th", t)))),
            h(
              "tbody",
              entries.map((e) =>
                h(
                  `tr${e.result === "ok" ? "" : ".bad"}`,
                  h("td.small.nowrap", when(e.time_utc)),
                  h("td", e.actor || "–", h("div.small.muted", e.actor_kind)),
                  h("td", e.role || "–"),
                  h("td", e.action, e.detail ? h("div.small.muted", e.detail) : null),
                  h("td", e.target || "–"),
                  h("td", `${e.result} ${e.status ?? ""}`, e.permission ? h("div.small.muted", e.permission) : null),
                  h("td.small", e.client || "–"),
                ),
              ),
            ),
          )
        : h("p.muted", "No entries."),
    );
  }
  await load();
  return null;
}
