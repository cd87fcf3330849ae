// Recording: start a group under a tag, stop it, and each record's status, gaps, errors and files.
import { get, getCached, post, put } from "../api.js";
import { bytes, field, h, mount, showErrors, toast, when } from "../dom.js";
import { cameraName } from "../labels.js";
import { poll } from "../poll.js";
import { remember } from "../recent.js";
import { downloadLink, hasVideo, isActive, recordStatus } from "../records.js";

const REFRESH_MS = 3000;

export async function render(view, tag) {
  return tag ? detail(view, tag) : index(view);
}

async function index(view) {
  const [running, groups, tags] = await Promise.all([get("/tag/begin"), get("/group"), get("/tags?limit=20")]);
  const form = h(
    "form.stack",
    { id: "start-form", novalidate: true, "data-permission": "record" },
    h("h2", "Start recording"),
    field("Tag", h("input", { name: "tag_name", autocomplete: "off" }), "tag_name"),
    field("Group", h("select", { name: "group_name" }, groups.map((g) => h("option", { value: g.name }, g.name))), "group_name"),
    h("p.form-error.error", { role: "alert" }),
    h("menu", h("button.primary.rec", { type: "submit", disabled: !groups.length }, "● Start")),
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const data = new FormData(form);
    try {
      await post("/record", { tag_name: data.get("tag_name"), group_name: data.get("group_name") });
      remember(String(data.get("tag_name")));
      location.hash = `#/tags/${encodeURIComponent(data.get("tag_name"))}`;
    } catch (err) {
      showErrors(form, err);
    }
  });
  const open = h("form.inline", { onsubmit: (ev) => { ev.preventDefault(); location.hash = `#/tags/${encodeURIComponent(new FormData(ev.target).get("t"))}`; } }, h("input", { name: "t", placeholder: "tag name", "aria-label": "tag name", required: true }), h("button", "Open"));
  const tagLink = (t) => h("li", h("a", { href: `#/tags/${encodeURIComponent(t)}` }, t), " ", h("a.small", { href: `#/play/${encodeURIComponent(t)}` }, "play"));
  mount(
    view,
    h("h1", "Recording"),
    h(
      "div.columns",
      h("section.card", h("h2", "Recording now"), running.length ? h("ul.tags", running.map((t) => tagLink(t))) : h("p.muted", "Nothing is recording."), h("h2", "Recent tags"), tags.length ? h("ul.tags", tags.map((t) => tagLink(t.name))) : h("p.muted", "None yet."), open),
      h("section.card", form),
    ),
  );
}

async function detail(view, tag) {
  remember(tag);
  const box = h("section.card");
  const head = h("div.tag-head", h("h1", tag));
  mount(view, h("p", h("a", { href: "#/tags" }, "← Recording")), head, box);

  function show([records, running]) {
    mount(
      head,
      h("h1", running ? h("span.rec-dot") : null, tag),
      h(
        "menu",
        h("a.button.primary", { href: `#/play/${encodeURIComponent(tag)}` }, "▶ Play back"),
        running ? h("button.danger", { id: "stop-tag", onclick: stop, "data-permission": "record" }, "■ Stop recording") : null,
      ),
    );
    mount(
      box,
      h(
        "table.grid.records",
        h("thead", h("tr", h("th", "Camera"), h("th", "Status"), h("th", "Time"), h("th", "Gaps"), h("th", "File"))),
        h(
          "tbody",
          records.map((r) =>
            h(
              `tr${["failed", "interrupted"].includes(r.status) ? ".bad" : ""}`,
              { dataset: { recordId: r.id } },
              h("td", cameraName(r), h("div.small.muted", r.agent || "")),
              h("td.status", recordStatus(r)),
              h("td.small", when(r.begin_utc), " → ", r.end_utc ? when(r.end_utc) : "now", r.duration_s ? h("div.muted", `${r.duration_s.toFixed(1)} s`) : null),
              h("td.small", r.gaps.length ? h("ul.gaps", r.gaps.map((g) => h("li", `${new Date(g.start_utc).toLocaleTimeString()} – ${new Date(g.end_utc).toLocaleTimeString()}${g.detail ? `: ${g.detail}` : ""}`))) : "none"),
              h("td.small", !hasVideo(r) && !isActive(r) ? "no file" : bytes(r.size_bytes), r.hash_md5 ? h("div.mono", `MD5 ${r.hash_md5}`) : null, r.status !== "pending" ? h("div", downloadLink(r)) : null),
            ),
          ),
        ),
      ),
    );
  }

  async function stop(ev) {
    ev.target.disabled = true;
    ev.target.textContent = "Stopping…";
    try {
      await put("/record", { tag_name: tag });
      toast(`Stopped ${tag}`);
    } catch (err) {
      toast(err.message, "error");
    }
    await feed.refresh();
  }

  const feed = poll({
    what: `tag ${tag}`,
    every: REFRESH_MS,
    el: box,
    load: () => Promise.all([getCached("/record", { tag_name: tag }), get("/record/runing", { tag_name: tag })]),
    show,
    fatal: (err) => err.status === 404,
    onFatal: () => mount(box, h("p.error", `No tag named ${tag}.`)),
  });
  await feed.ready;
  return { cleanup: feed.stop };
}
