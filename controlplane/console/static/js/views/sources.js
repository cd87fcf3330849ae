// Sources: list, create, edit, delete; 422 messages next to their fields; snapshot and live view.
import { del, getCached, post, put } from "../api.js";
import { badge, field, h, mount, showErrors, toast } from "../dom.js";
import { label } from "../labels.js";
import { live, snapshot } from "../media.js";
import { poll } from "../poll.js";

const REFRESH_MS = 5000;

export async function render(view) {
  const list = h("section.card");
  const formBox = h("section.card");
  // The snapshot or live view opens at the top of the list's column, beside the form (which is long):
  // where the Snapshot and Live buttons are, not below the form out of view.
  const viewer = h("section.card.viewer", { hidden: true, "aria-live": "polite" });
  mount(view, h("h1", "Sources"), h("div.columns", h("div.stack-col", viewer, list), formBox));
  let stopLive = () => {};

  function show(sources) {
    mount(
      list,
      h("h2", "Cameras"),
      sources.length
        ? h("table.grid", h("tbody", sources.map((s) => row(s))))
        : h("p.muted", "No sources yet: add one with the form."),
    );
  }

  function row(s) {
    return h(
      `tr${s.status === "offline" ? ".bad" : ""}`,
      { dataset: { sourceId: s.id } },
      h("td", h("strong", label(s)), h("div.small.muted", s.model === "PictureSource" ? s.uri_http_picture?.uri : s.uri_rtsp), h("div.small.muted.placement", placement(s))),
      h("td", badge(s.status), s.status_detail ? h(`div.small.${s.status === "offline" ? "error" : "muted"}`, s.status_detail) : null),
      h(
        "td.actions",
        h("button", { onclick: () => showSnapshot(s), "data-permission": "snapshot" }, "Snapshot"),
        h("button", { onclick: () => showLive(s), "data-permission": "live" }, "Live"),
        h("button", { onclick: () => editor(s), "data-permission": "manage_sources" }, "Edit"),
        h("button.danger", { onclick: () => remove(s), "data-permission": "manage_sources" }, "Delete"),
      ),
    );
  }

  // Where it records: its agent(s), its site, and how it behaves when an agent fails.
  function placement(s) {
    const agents = [s.agent, s.second_agent].filter(Boolean).join(" + ") || "not placed";
    const notes = [s.site ? `site ${s.site}` : null, s.redundancy === 2 ? "dual" : null, s.failover === false ? "no failover" : null];
    return [agents, ...notes].filter(Boolean).join(" · ");
  }

  function open(title, el) {
    viewer.hidden = false;
    mount(viewer, h("div.viewer-head", h("h2", title), h("button", { onclick: close }, "Close")), el);
    viewer.scrollIntoView({ block: "nearest" });
  }

  function close() {
    stopLive();
    stopLive = () => {};
    viewer.hidden = true;
    viewer.replaceChildren();
  }

  function showSnapshot(s) {
    stopLive();
    open(`Snapshot: ${label(s)}`, snapshot(s.id));
  }

  function showLive(s) {
    stopLive();
    const view = live(s.id);
    stopLive = view.stop;
    open(`Live: ${label(s)}`, view.el);
  }

  async function remove(s) {
    if (!confirm(`Delete source ${label(s)}?`)) return;
    try {
      await del(`/source/${s.id}`);
      toast(`Deleted ${label(s)}`);
      await feed.refresh();
    } catch (err) {
      toast(err.message, "error");
    }
  }

  function editor(existing) {
    const s = existing || { model: "Source", description: "", uri_rtsp: "", uri_http_picture: null, ffmpeg_cmd: "", agent: "", site: "", failover: true, redundancy: 1 };
    const pic = s.uri_http_picture || { uri: "", auth: "basic", user: "", password: null };
    const input = (name, value, extra = {}) => h("input", { name, value: value ?? "", autocomplete: "off", ...extra });
    const model = h("select", { name: "model" }, ["Source", "PictureSource"].map((m) => h("option", { value: m, selected: m === s.model }, m)));
    const form = h(
      "form.stack",
      { id: "source-form", novalidate: true, "data-permission": "manage_sources" },
      h("h2", existing ? `Edit ${label(s)}` : "New source"),
      field("Kind", model, "model"),
      field("Description", input("description", s.description), "description"),
      field("RTSP URL", input("uri_rtsp", s.uri_rtsp, { placeholder: "rtsp://camera:554/stream" }), "uri_rtsp"),
      h(
        "fieldset",
        h("legend", "Still image (optional for RTSP)"),
        field("Image URL", input("picture_uri", pic.uri, { placeholder: "http://camera/snap.jpg" }), "uri_http_picture.uri"),
        field("Auth", h("select", { name: "picture_auth" }, ["basic", "digest"].map((a) => h("option", { value: a, selected: a === pic.auth }, a))), "uri_http_picture.auth"),
        field("User", input("picture_user", pic.user), "uri_http_picture.user"),
        // The API never returns the password: "********" stands for "keep the stored one".
        field("Password", input("picture_password", pic.password || "", { type: "password", placeholder: pic.password ? "unchanged" : "" }), "uri_http_picture.password"),
      ),
      field("ffmpeg command (optional)", input("ffmpeg_cmd", s.ffmpeg_cmd, { placeholder: "ffmpeg -rtsp_transport tcp -i {input} -c copy {output}" }), "ffmpeg_cmd"),
      field("Agent (optional)", input("agent", s.agent), "agent"),
      h(
        "fieldset",
        h("legend", "When an agent fails"),
        field("Site (optional: agents of this site only)", input("site", s.site, { placeholder: "any" }), "site"),
        field("Failover", h("span.check", input("failover", "on", { type: "checkbox", checked: s.failover !== false }), "Continue on another agent of the site"), "failover"),
        field("Dual recording", h("span.check", input("redundancy", "2", { type: "checkbox", checked: s.redundancy === 2 }), "Record on two agents at once (no gap when one dies)"), "redundancy"),
      ),
      h("p.form-error.error", { role: "alert" }),
      h("menu", h("button.primary", { type: "submit" }, existing ? "Save" : "Create"), existing ? h("button", { type: "button", onclick: () => editor(null) }, "New instead") : null),
    );
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const data = new FormData(form);
      const body = {
        model: data.get("model"),
        description: data.get("description"),
        uri_rtsp: data.get("uri_rtsp") || null,
        ffmpeg_cmd: data.get("ffmpeg_cmd") || null,
        agent: data.get("agent") || null,
        site: data.get("site") || null,
        failover: data.get("failover") === "on",
        redundancy: data.get("redundancy") ? 2 : 1,
      };
      if (data.get("picture_uri")) {
        body.uri_http_picture = {
          uri: data.get("picture_uri"),
          auth: data.get("picture_auth"),
          user: data.get("picture_user") || null,
          password: data.get("picture_password") || pic.password || null,
        };
      }
      try {
        const saved = existing ? await put(`/source/${existing.id}`, body) : await post("/source", body);
        showErrors(form, null);
        toast(`Saved ${label(saved)}`);
        editor(null);
        await feed.refresh();
      } catch (err) {
        showErrors(form, err);
      }
    });
    mount(formBox, form);
  }

  editor(null);
  const feed = poll({ what: "the sources", every: REFRESH_MS, el: list, load: () => getCached("/source"), show });
  await feed.ready;
  return { cleanup: () => { feed.stop(); stopLive(); } };
}
