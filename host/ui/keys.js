// Keys and usage: every tenant API key with its scope and limits and what
// it has used (GET /api/v1/keys, GET /api/v1/usage?group_by=key), and the
// usage ledger summed by key, provider, model or day over a range of days.
// The keys themselves are never shown: the API keeps only their hashes and
// lists their first characters (`prefix`).

import { api, query } from "./api.js";
import { h, time, routeParams } from "./dom.js";

const GROUPS = ["key", "provider", "model", "day"];

export async function keysPage(main) {
  const params = routeParams();
  const [keys, byKey] = await Promise.all([
    api("/api/v1/keys"),
    api(`/api/v1/usage${query({ group_by: "key" })}`),
  ]);
  const used = new Map(byKey.groups.map((g) => [g.key_id, g]));
  main.append(
    h("h1", "Keys and usage"),
    h("section.panel", { "aria-labelledby": "k-h" },
      h("h2", { id: "k-h" }, "API keys"),
      keys.keys.length ? keysTable(keys.keys, used) : h("p.muted", "No API keys yet (POST /api/v1/keys or llmhost keys create)."),
      h("p.muted", "Usage is every recorded call and completed attempt, all time. Requests admitted by the admin token are not a key's.")),
    await usageSection(params));
}

function keysTable(keys, used) {
  const heads = ["Name", "Key", "Models", "rpm", "tpm", "Parallel", "Budget", "Requests", "Tokens in / out", "Cost", "Last used", "State"];
  return h("div.table-wrap", h("table", { id: "keys-table" },
    h("caption.sr-only", "API keys with their limits and usage"),
    h("thead", h("tr", heads.map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", keys.map((k) => {
      const u = used.get(k.id);
      return h("tr", { "data-key": k.name },
        h("th", { scope: "row" }, k.name),
        h("td.mono", `${k.prefix}…`),
        h("td", k.models.length ? h("span.chips", k.models.map((m) => h("span.chip.mono", m))) : h("span.muted", "all")),
        h("td.num", { "data-limit": "rpm" }, limit(k.rpm)),
        h("td.num", { "data-limit": "tpm" }, limit(k.tpm)),
        h("td.num", { "data-limit": "max_parallel" }, limit(k.max_parallel)),
        h("td.num", { "data-limit": "budget" }, k.budget_usd === null ? h("span.muted", "none")
          : `${dollars(k.budget_usd)}${k.budget_period ? ` per ${k.budget_period}` : " in all"}`),
        h("td.num", { "data-used": "requests" }, u ? u.requests : 0),
        h("td.num", u ? `${u.input_tokens} / ${u.output_tokens}` : "0 / 0"),
        h("td.num", { "data-used": "cost" }, dollars(u ? u.cost_usd : 0)),
        h("td", time(k.last_used_at)),
        h("td", k.revoked_at ? h("span.badge.s-failed", "revoked") : h("span.badge.s-completed", "active")));
    }))));
}

async function usageSection(params) {
  const group = (params.get("group_by") ?? "provider,model").split(",").filter((g) => GROUPS.includes(g));
  const from = params.get("from") ?? "";
  const to = params.get("to") ?? "";
  const boxes = GROUPS.map((g) => h("label.check", { for: `g-${g}` },
    h("input", { id: `g-${g}`, type: "checkbox", value: g, checked: group.includes(g) }), g));
  const fromInput = h("input", { id: "u-from", type: "date", value: from });
  const toInput = h("input", { id: "u-to", type: "date", value: to });
  const form = h("form.row", { "aria-label": "Usage report" },
    h("fieldset.row", h("legend", "Group by"), boxes),
    h("label", { for: "u-from" }, "From (UTC day)", fromInput),
    h("label", { for: "u-to" }, "To (UTC day)", toInput),
    h("button", { type: "submit" }, "Show usage"));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const chosen = boxes.map((b) => b.querySelector("input")).filter((i) => i.checked).map((i) => i.value);
    location.hash = `#/keys${query({ group_by: chosen.join(","), from: fromInput.value, to: toInput.value })}`;
  });
  const report = await api(`/api/v1/usage${query({ group_by: group.join(","), from, to })}`);
  const cols = group.map((g) => [g === "key" ? "key_name" : g, g]);
  const sums = [["requests", "Requests"], ["input_tokens", "Input tokens"], ["output_tokens", "Output tokens"],
    ["cached_tokens", "Cached"], ["reasoning_tokens", "Reasoning"]];
  const line = (r, total) => h("tr", total ? { "data-usage-total": "" } : null,
    cols.map(([field], i) => (i === 0 ? h("th", { scope: "row" }, total ? "Total" : (r[field] ?? "—"))
      : h("td", total ? "" : (r[field] ?? "—")))),
    cols.length ? null : h("th", { scope: "row" }, "Total"),
    sums.map(([field]) => h("td.num", r[field])),
    h("td.num", dollars(r.cost_usd)));
  return h("section.panel", { "aria-labelledby": "u-h" },
    h("h2", { id: "u-h" }, "Usage"), form,
    h("div.table-wrap", h("table", { id: "usage-table" },
      h("caption.sr-only", "Usage by group"),
      h("thead", h("tr", cols.length ? cols.map(([, g]) => h("th", { scope: "col" }, g)) : h("th", { scope: "col" }, ""),
        sums.map(([, name]) => h("th.num", { scope: "col" }, name)), h("th.num", { scope: "col" }, "Cost"))),
      h("tbody", report.groups.map((r) => line(r, false)), line(report.totals, true)))));
}

function limit(n) {
  return n === null || n === undefined ? h("span.muted", "none") : String(n);
}

function dollars(n) {
  return `$${Number(n).toFixed(n && n < 0.01 ? 6 : 2)}`;
}
