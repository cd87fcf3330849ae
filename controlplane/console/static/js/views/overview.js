// Overview: agents, sources and tags recording now, refreshed every few seconds; problems on top.
import { del, getCached } from "../api.js";
import { ago, badge, bytes, h, mount, toast } from "../dom.js";
import { label } from "../labels.js";
import { poll } from "../poll.js";

const REFRESH_MS = 4000;

export async function render(view) {
  const problems = h("section.problems", { "aria-live": "polite" });
  const agents = h("section.card");
  const sources = h("section.card");
  const tags = h("section.card");
  for (const [card, title] of [[agents, "Agents"], [sources, "Sources"], [tags, "Recording now"]]) mount(card, h("h2", title), h("p.muted", "Loading…"));
  mount(view, h("h1", "Overview"), problems, h("div.columns", tags, agents), sources);

  function show([agentList, sourceList, running]) {
    const issues = [];
    mount(agents, h("h2", "Agents"), agentTable(agentList));
    for (const agent of agentList)
      if (agent.state !== "online" && !agent.revoked) issues.push(`agent ${agent.name} is ${agent.state}`);
    if (!agentList.length) issues.push("no recorder agent has registered yet");
    mount(sources, h("h2", "Sources ", h("a.small", { href: "#/sources" }, "manage")), sourceTable(sourceList));
    for (const src of sourceList)
      if (src.status === "offline") issues.push(`source ${label(src)} is offline${src.status_detail ? `: ${src.status_detail}` : ""}`);
    mount(
      tags,
      h("h2", "Recording now"),
      running.length
        ? h("ul.tags", running.map((name) => h("li", h("span.rec-dot"), h("a", { href: `#/tags/${encodeURIComponent(name)}` }, name), " ", h("a.small", { href: `#/play/${encodeURIComponent(name)}` }, "play"))))
        : h("p.muted", "No tag is recording. ", h("a", { href: "#/tags" }, "Start one")),
    );
    mount(problems, issues.length ? h("div.alert", { role: "alert" }, h("strong", `${issues.length} problem${issues.length > 1 ? "s" : ""}`), h("ul", issues.map((i) => h("li", i)))) : h("div.ok", "All agents and sources are fine."));
  }

  const feed = poll({
    what: "the overview",
    every: REFRESH_MS,
    el: problems,
    load: () => Promise.all([getCached("/agent"), getCached("/source"), getCached("/tag/begin")]),
    show,
  });
  await feed.ready;
  return { cleanup: feed.stop };
}

function agentTable(list) {
  if (!list.length) return h("p.muted", "No agents yet: start one with `make run` or `python -m agent`.");
  return h(
    "table.grid",
    h("thead", h("tr", h("th", "Agent"), h("th", "State"), h("th", "Disk free"), h("th", "Records"), h("th", "Seen"), h("th", { "data-permission": "manage_agents" }))),
    h(
      "tbody",
      list.map((a) => {
        const free = a.disk_total_bytes ? a.disk_free_bytes / a.disk_total_bytes : 1;
        const reserve = a.disk_reserve_bytes; // shown when the API reports it
        const low = reserve !== undefined ? a.disk_free_bytes < reserve : free < 0.1;
        return h(
          `tr${a.state !== "online" ? ".bad" : ""}`,
          h("td", h("strong", a.name), h("div.small.muted", a.address)),
          h("td", badge(a.revoked ? "revoked" : a.state)),
          h("td", h("meter", { min: 0, max: 1, low: 0.1, optimum: 1, value: free, title: `${Math.round(free * 100)} %` }), " ", h(low ? "span.nowrap.error" : "span.nowrap", `${bytes(a.disk_free_bytes)} of ${bytes(a.disk_total_bytes)}`), reserve !== undefined ? h("div.small.muted", `reserve ${bytes(reserve)}`) : null),
          h("td", `${a.active_records} / ${a.capacity || "∞"}`),
          h("td.small", ago(a.last_seen_utc)),
          h("td.actions", { "data-permission": "manage_agents" }, a.revoked ? null : h("button.danger.revoke", { onclick: () => revoke(a), "data-permission": "manage_agents" }, "Revoke")),
        );
      }),
    ),
  );
}

function sourceTable(list) {
  if (!list.length) return h("p.muted", "No sources yet. ", h("a", { href: "#/sources" }, "Add a camera"));
  const sorted = [...list].sort((x, y) => (y.status === "offline") - (x.status === "offline") || x.id - y.id);
  return h(
    "table.grid",
    h("thead", h("tr", h("th", "Source"), h("th", "Status"), h("th", "Agent"), h("th", "Since"))),
    h(
      "tbody",
      sorted.map((s) =>
        h(
          `tr${s.status === "offline" ? ".bad" : ""}`,
          h("td", label(s), h("div.small.muted", s.model === "PictureSource" ? s.uri_http_picture?.uri : s.uri_rtsp)),
          h("td", badge(s.status), s.status_detail ? h(`div.small.${s.status === "offline" ? "error" : "muted"}`, s.status_detail) : null),
          h("td", s.agent || "–"),
          h("td.small", ago(s.status_utc)),
        ),
      ),
    ),
  );
}

// An admin's: the agent's token stops working everywhere, its sources move (SECURITY.md).
async function revoke(agent) {
  if (!confirm(`Revoke agent ${agent.name}? Its token stops working and its sources move to other agents.`)) return;
  try {
    await del(`/agent/${encodeURIComponent(agent.name)}`);
    toast(`Revoked ${agent.name}`);
  } catch (err) {
    toast(`Could not revoke ${agent.name}: ${err.message}`, "error");
  }
}
