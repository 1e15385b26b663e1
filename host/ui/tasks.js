// Tasks: the list, filtered (status, provider, route, model, error code, time
// range) or searched (id or Idempotency-Key), newest first, paged by the
// API's keyset cursor. The filters live in the page's address (#/tasks?…),
// so a filtered view can be bookmarked; the token never does. The page
// follows the overview's event stream and reloads the shown page when the
// counts move, instead of polling each row.

import { api, stream, query } from "./api.js";
import { h, badge, time, errorBox, announce, routeParams } from "./dom.js";
import { cancelTask, resubmit, isActive } from "./actions.js";

const FILTERS = ["status", "provider", "route", "model", "error_code", "created_after", "created_before", "q"];
const STATUSES = ["", "pending", "running", "completed", "failed", "cancelled"];

export async function tasksPage(main, signal) {
  const params = routeParams();
  const value = (k) => params.get(k) ?? "";
  const field = (name, text, input) => h("label", { for: `f-${name}` }, text, input);
  const input = (name, attrs = {}) => h("input", { id: `f-${name}`, name, value: value(name), ...attrs });
  // Times are shown in the browser's zone and sent as RFC 3339.
  const local = (iso) => (iso ? toLocalInput(iso) : "");
  const form = h("form.panel.row", { role: "search", "aria-label": "Filter tasks" },
    field("q", "Task id or idempotency key", input("q", { type: "search", size: 30 })),
    field("status", "Status", h("select", { id: "f-status", name: "status" },
      STATUSES.map((s) => h("option", { value: s, selected: s === value("status") }, s || "any")))),
    field("provider", "Provider", input("provider", { list: "providers-list", size: 12 })),
    field("route", "Route", input("route", { size: 10 })),
    field("model", "Model", input("model", { size: 12 })),
    field("error_code", "Error code", input("error_code", { size: 14 })),
    field("created_after", "Created after", h("input", { id: "f-created_after", name: "created_after", type: "datetime-local", value: local(value("created_after")) })),
    field("created_before", "Created before", h("input", { id: "f-created_before", name: "created_before", type: "datetime-local", value: local(value("created_before")) })),
    h("button.primary", { type: "submit" }, "Apply"),
    h("button", { type: "button", onclick: () => { location.hash = "#/tasks"; } }, "Clear"),
    h("datalist", { id: "providers-list" }));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const data = new FormData(form);
    const next = {};
    for (const k of FILTERS) {
      let v = (data.get(k) ?? "").trim();
      if (v && k.startsWith("created_")) v = new Date(v).toISOString();
      next[k] = v;
    }
    location.hash = `#/tasks${query(next)}`;
  });
  const body = h("div.table-wrap");
  const pager = h("div.pager");
  const status = h("p.muted", { role: "status" });
  main.append(h("h1", "Tasks"), form, h("section.panel", { "aria-label": "Task list" }, status, body, pager));

  api("/api/v1/providers").then((list) => {
    form.querySelector("#providers-list").append(...list.providers.map((p) => h("option", { value: p.name })));
  }).catch(() => {});

  const filters = {};
  for (const k of FILTERS) filters[k] = value(k);
  // Cursors of the pages before this one: "Previous" goes back along them.
  const history = [];
  let cursor = "";
  let busy = false;

  async function load() {
    if (busy) return;
    busy = true;
    try {
      const page = await api(`/api/v1/tasks${query({ ...filters, cursor, limit: 25 })}`);
      render(page);
    } catch (err) {
      body.replaceChildren(errorBox(err));
    } finally {
      busy = false;
    }
  }

  function render(page) {
    status.textContent = page.tasks.length
      ? `${page.tasks.length} task${page.tasks.length === 1 ? "" : "s"} on this page, newest first`
      : "No task matches.";
    body.replaceChildren(page.tasks.length ? h("table", { id: "tasks-table" },
      h("caption.sr-only", "Tasks, newest first"),
      h("thead", h("tr", ["Task", "Status", "Provider", "Model", "Attempts", "Created", "Error", "Actions"]
        .map((c, i) => h(i === 4 ? "th.num" : i === 5 || i === 3 ? "th.hide-narrow" : "th", { scope: "col" }, c)))),
      h("tbody", page.tasks.map(row))) : "");
    pager.replaceChildren(
      h("button", { type: "button", disabled: !history.length, onclick: () => { cursor = history.pop(); load(); } }, "Previous page"),
      h("button", { type: "button", disabled: !page.next_cursor, onclick: () => { history.push(cursor); cursor = page.next_cursor; load(); } }, "Next page"));
  }

  function row(t) {
    const actions = h("div.row");
    if (isActive(t.status)) {
      actions.append(h("button.danger", { type: "button", "aria-label": `Cancel task ${t.task_id}`, onclick: async (e) => {
        e.target.disabled = true;
        try { await cancelTask(t.task_id); announce(`Cancel of ${t.task_id} requested`); load(); } catch (err) { actions.append(errorBox(err)); }
      } }, "Cancel"));
    }
    actions.append(h("button", { type: "button", "aria-label": `Resubmit task ${t.task_id} as a new task`, onclick: async () => {
      try { const n = await resubmit(t); location.hash = `#/tasks/${n.task_id}`; } catch (err) { actions.append(errorBox(err)); }
    } }, "Resubmit"));
    return h("tr", { "data-task": t.task_id },
      h("td.mono", h("a", { href: `#/tasks/${t.task_id}` }, t.task_id)),
      h("td", badge(t.status)),
      h("td", t.provider),
      h("td.hide-narrow", t.model),
      h("td.num", `${t.attempts}/${t.max_attempts}`),
      h("td.hide-narrow", time(t.created_at)),
      h("td.mono", t.error_code ?? ""),
      h("td", actions));
  }

  await load();
  // Live: one stream for the page; a change of the counts reloads it.
  let last = "";
  stream("/api/v1/overview/events?window=60&buckets=1", (name, data) => {
    if (name !== "overview") return;
    const key = JSON.stringify(data.counts);
    if (last && key !== last) load();
    last = key;
  }, signal).catch(() => {});
}

function toLocalInput(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}
