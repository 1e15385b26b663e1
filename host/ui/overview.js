// Overview: tasks by status, throughput and failure rate over a window,
// run time and time to first token per provider; live from GET /api/v1/overview/events (one stream,
// sent again when tasks move).

import { stream, query } from "./api.js";
import { h, ms, routeParams } from "./dom.js";
import { throughputChart, failureChart, latencyChart } from "./charts.js";

const WINDOWS = [["900", "15 minutes"], ["3600", "1 hour"], ["21600", "6 hours"], ["86400", "24 hours"]];
const STATUSES = ["pending", "running", "completed", "failed", "cancelled"];

export async function overviewPage(main, signal) {
  const win = routeParams().get("window") ?? "3600";
  const select = h("select", { id: "window", onchange: (e) => { location.hash = `#/overview?window=${e.target.value}`; } },
    WINDOWS.map(([v, name]) => h("option", { value: v, selected: v === win }, name)));
  const cards = h("div.cards", { "aria-label": "Tasks by status" });
  const throughput = h("div.chart");
  const failures = h("div.chart");
  const latency = h("div.chart.narrow");
  const firstToken = h("div.chart.narrow", { id: "first-token-chart" });
  const table = h("div.table-wrap");
  const live = h("span.muted", { role: "status" }, "connecting…");
  main.append(
    h("div.row", h("h1", "Overview"), h("label", { for: "window" }, "Window", select), live),
    cards,
    h("div.grid",
      h("section.panel", { "aria-labelledby": "t-h" }, h("h2", { id: "t-h" }, "Throughput"),
        legend(["completed", "failed", "cancelled"]), throughput),
      h("section.panel", { "aria-labelledby": "f-h" }, h("h2", { id: "f-h" }, "Failure rate"), failures)),
    h("div.grid",
      h("section.panel", { "aria-labelledby": "l-h" }, h("h2", { id: "l-h" }, "Run time per provider (final attempt, p50 / p95)"),
        legend(["p50", "p95"]), latency),
      h("section.panel", { "aria-labelledby": "ft-h" }, h("h2", { id: "ft-h" }, "Time to first token per provider (p50 / p95)"),
        legend(["p50", "p95"]), firstToken)),
    h("section.panel", { "aria-labelledby": "pt-h" }, h("h2", { id: "pt-h" }, "Per provider"), table));

  const show = (o) => {
    cards.replaceChildren(...STATUSES.map((s) =>
      h("a.card", { href: `#/tasks?status=${s}`, "data-count": s },
        h("div.muted", s), h("div.n", String(o.counts[s])))));
    throughput.replaceChildren(throughputChart(o.buckets));
    failures.replaceChildren(failureChart(o.buckets));
    latency.replaceChildren(latencyChart(o.providers, "", "Run time"));
    firstToken.replaceChildren(latencyChart(o.providers, "first_token_", "Time to first token"));
    table.replaceChildren(o.providers.length ? h("table",
      h("caption.sr-only", "Finished tasks per provider in the window"),
      h("thead", h("tr", ["Provider", "Completed", "Failed", "Cancelled", "Failure rate", "Run p50", "Run p95", "First token p50", "First token p95"].map((c, i) => h(i ? "th.num" : "th", { scope: "col" }, c)))),
      h("tbody", o.providers.map((p) => h("tr",
        h("th", { scope: "row" }, p.provider),
        h("td.num", p.completed), h("td.num", p.failed), h("td.num", p.cancelled),
        h("td.num", p.failure_rate === null ? "—" : `${(p.failure_rate * 100).toFixed(1)}%`),
        h("td.num", ms(p.p50_ms)), h("td.num", ms(p.p95_ms)),
        h("td.num", { "data-first-token-p50": p.provider }, ms(p.first_token_p50_ms)), h("td.num", ms(p.first_token_p95_ms)))))) : "");
    live.textContent = `live · ${new Date(o.read_at).toLocaleTimeString()}`;
  };
  // The stream runs until the page is left (signal) or the server closes it.
  stream(`/api/v1/overview/events${query({ window: win, buckets: 60 })}`, (name, data) => {
    if (name === "overview") show(data);
    if (name === "closing") live.textContent = "the server is shutting down; reload to reconnect";
  }, signal).catch((err) => {
    if (!signal.aborted) live.textContent = `not live: ${err.message}`;
  });
}

function legend(keys) {
  return h("div.legend", { "aria-hidden": "true" }, keys.map((k) => h("span", h(`i.c-${k}`), k)));
}
