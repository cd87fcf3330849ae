// Sync: copy a tag to another agent, deployment or bucket, and follow each job's records.
import { get, post } from "../api.js";
import { badge, bytes, field, h, mount, showErrors, toast, when } from "../dom.js";
import { poll } from "../poll.js";
import { recent } from "../recent.js";

const REFRESH_MS = 3000;

export async function render(view) {
  const jobs = h("section.card");
  const form = h(
    "form.stack",
    { id: "sync-form", novalidate: true, "data-permission": "sync" },
    h("h2", "Copy a tag"),
    field("Tag", h("input", { name: "tag_name", list: "recent-tags", autocomplete: "off" }), "tag_name"),
    h("datalist", { id: "recent-tags" }, recent().map((t) => h("option", { value: t }))),
    field("Destination", h("input", { name: "location", placeholder: "agent://agent-2/archive, s3://bucket/prefix, https://…", autocomplete: "off" }), "location"),
    h("p.form-error.error", { role: "alert" }),
    h("menu", h("button.primary", { type: "submit" }, "Start sync")),
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const data = new FormData(form);
    try {
      const id = await post("/sync", { tag_name: data.get("tag_name"), location: data.get("location") });
      showErrors(form, null);
      toast(`Sync job ${id} started`);
      await feed.refresh();
    } catch (err) {
      showErrors(form, err);
    }
  });
  mount(view, h("h1", "Sync"), h("div.columns", jobs, h("section.card", form)));

  const show = (list) => mount(jobs, h("h2", "Jobs"), list.length ? list.map(job) : h("p.muted", "No sync jobs yet."));
  const feed = poll({ what: "the sync jobs", every: REFRESH_MS, el: jobs, load: () => get("/sync"), show });
  await feed.ready;
  return { cleanup: feed.stop };
}

function job(j) {
  const items = j.items || [];
  return h(
    "details.job",
    { open: j.status === "running" || j.status === "failed" },
    h("summary", badge(j.status), " ", h("strong", j.tag_name ?? ""), " → ", h("span.mono", j.location ?? ""), " ", h("progress", { max: j.bytes_total || 1, value: j.bytes_done }), ` ${j.records_done}/${j.records_total} records · ${bytes(j.bytes_done)} of ${bytes(j.bytes_total)} · ${when(j.created_utc)}`),
    h("ul.small", items.map((i) => h("li", badge(i.status), " ", h("span.mono", i.record_id.slice(0, 8)), ` ${bytes(i.bytes)}`, i.error ? h("span.error", ` ${i.error}`) : null))),
  );
}
