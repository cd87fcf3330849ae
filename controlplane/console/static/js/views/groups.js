// Groups: create and delete, membership, a live wall of a group, and starting it under a tag.
import { del, get, post } from "../api.js";
import { badge, field, h, mount, showErrors, toast } from "../dom.js";
import { label } from "../labels.js";
import { liveWall, wallSource } from "../live/wall.js";
import { remember } from "../recent.js";

export async function render(view, groupId) {
  return groupId ? detail(view, Number(groupId)) : index(view);
}

async function index(view) {
  const list = h("section.card");
  const form = h(
    "form.stack",
    { id: "group-form", novalidate: true, "data-permission": "manage_sources" },
    h("h2", "New group"),
    field("Name", h("input", { name: "name", autocomplete: "off" }), "name"),
    h("p.form-error.error", { role: "alert" }),
    h("menu", h("button.primary", { type: "submit" }, "Create")),
  );
  mount(view, h("h1", "Groups"), h("div.columns", list, h("section.card", form)));

  async function refresh() {
    const groups = await get("/group");
    mount(
      list,
      h("h2", "Groups"),
      groups.length
        ? h("ul.links", groups.map((g) => h("li", h("a", { href: `#/groups/${g.id}` }, g.name))))
        : h("p.muted", "No groups yet."),
    );
  }

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      const g = await post("/group", { name: new FormData(form).get("name") });
      showErrors(form, null);
      location.hash = `#/groups/${g.id}`;
    } catch (err) {
      showErrors(form, err);
    }
  });
  await refresh();
}

async function detail(view, id) {
  let walls = [];
  const stopWall = () => {
    for (const w of walls) w.stop();
    walls = [];
  };
  const members = h("section.card");
  const recorder = h("section.card");
  const wall = h("section.wall-box");

  async function refresh() {
    const [group, all] = await Promise.all([get(`/group/${id}`), get("/source")]);
    const inGroup = new Set(group.sources.map((s) => s.id));
    const add = h("select", { name: "source" }, all.filter((s) => !inGroup.has(s.id)).map((s) => h("option", { value: s.id }, label(s))));
    mount(
      members,
      h("h2", "Cameras in this group"),
      group.sources.length
        ? h("table.grid", h("tbody", group.sources.map((s) => h("tr", h("td", label(s)), h("td", badge(s.status)), h("td.actions", h("button", { onclick: () => change("DELETE", s.id), "data-permission": "manage_sources" }, "Remove"))))))
        : h("p.muted", "No cameras yet."),
      add.options.length
        ? h("form.inline", { id: "member-form", "data-permission": "manage_sources", onsubmit: (ev) => { ev.preventDefault(); change("POST", Number(add.value)); } }, add, h("button", { type: "submit" }, "Add"))
        : h("p.small.muted", "Every source is in this group already. ", h("a", { href: "#/sources" }, "Add sources")),
      h("menu", h("button", { onclick: () => showWall(group), "data-permission": "live" }, "Live wall"), h("button.danger", { onclick: () => removeGroup(group), "data-permission": "manage_sources" }, "Delete group")),
    );
    return group;
  }

  async function change(method, sourceId) {
    try {
      await (method === "POST" ? post : del)(`/group/${id}/source/${sourceId}`);
      await refresh();
    } catch (err) {
      toast(err.message, "error");
    }
  }

  async function removeGroup(group) {
    if (!confirm(`Delete group ${group.name}? Its sources stay.`)) return;
    await del(`/group/${id}`);
    location.hash = "#/groups";
  }

  function showWall(group) {
    stopWall();
    const wallView = liveWall(group.sources.map(wallSource), { title: `Live wall: ${group.name}` });
    walls = [wallView];
    const close = h("button", { onclick: () => { stopWall(); wall.replaceChildren(); } }, "Close");
    mount(wall, wallView.el, h("p", close, " ", h("a", { href: `#/live/${group.sources.map((s) => s.id).join(",")}` }, "Open as its own page")));
  }

  const group = await refresh();
  const form = h(
    "form.stack",
    { id: "record-form", novalidate: true, "data-permission": "record" },
    h("h2", "Record this group"),
    field("Tag", h("input", { name: "tag_name", autocomplete: "off", placeholder: "match-2024-04-02" }), "tag_name"),
    field("Only", h("select", { name: "model" }, h("option", { value: "" }, "every camera"), h("option", { value: "Source" }, "RTSP cameras"), h("option", { value: "PictureSource" }, "still-image cameras")), "model"),
    h("p.form-error.error", { role: "alert" }),
    h("menu", h("button.primary.rec", { type: "submit" }, "● Start recording")),
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const data = new FormData(form);
    const tag = String(data.get("tag_name") || "");
    try {
      await post("/record", { tag_name: tag, group_name: group.name, model: data.get("model") || null });
      remember(tag);
      location.hash = `#/tags/${encodeURIComponent(tag)}`;
    } catch (err) {
      showErrors(form, err);
    }
  });
  mount(recorder, form);
  mount(view, h("p", h("a", { href: "#/groups" }, "← Groups")), h("h1", group.name), h("div.columns", members, recorder), wall);
  return { cleanup: stopWall };
}
