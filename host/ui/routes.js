// Routes: each model alias with its strategy, its targets (weight, and
// what this process has seen of each: breaker, cooldown, calls, latency,
// failures) and the failures that move a request on. Shown from
// GET /api/v1/routes; a server without it says so.

import { api, ApiError } from "./api.js";
import { h, ms } from "./dom.js";

export async function routesPage(main) {
  main.append(h("h1", "Routes"));
  let data;
  try {
    data = await api("/api/v1/routes");
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) {
      main.append(h("p.muted", "This server does not list its routes."));
      return;
    }
    throw err;
  }
  if (!data.routes.length) {
    main.append(h("p.muted", "No routes are configured ([routes.<alias>] in the configuration file)."));
    return;
  }
  main.append(...data.routes.map(route));
}

function route(r) {
  const rows = [...r.targets.map((t) => [t, "target"])];
  if (r.context_window_fallback) rows.push([r.context_window_fallback, "context window fallback"]);
  return h("section.panel", { "data-route": r.name, "aria-labelledby": `r-${r.name}` },
    h("h2", { id: `r-${r.name}` }, h("span.mono", r.name), " ", h("span.muted", r.strategy)),
    h("p", "Falls back on: ", h("span.chips", (r.fallback_on ?? []).map((c) => h("span.chip.mono", c)))),
    h("div.table-wrap", h("table",
      h("caption.sr-only", `Targets of ${r.name}`),
      h("thead", h("tr", ["Target", "Role", "Weight", "Health in this process"].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", rows.map(([t, role]) => h("tr",
        h("td.mono", t.target), h("td", role), h("td.num", t.weight ?? ""),
        h("td", health(t.health))))))));
}

/**
 * Whatever the server says of a target's health, as name: value chips; a
 * `…_ms` value as a duration (the EWMA has more digits than anyone reads).
 */
function health(value) {
  if (value === undefined || value === null) return h("span.muted", "—");
  if (typeof value !== "object") return String(value);
  return h("span.chips", Object.entries(value).map(([k, v]) => {
    const duration = k.endsWith("_ms");
    const name = (duration ? k.slice(0, -3) : k).replaceAll("_", " ");
    const shown = v === null ? "—"
      : duration && typeof v === "number" ? ms(v < 10 ? Math.round(v * 10) / 10 : Math.round(v))
      : typeof v === "object" ? JSON.stringify(v) : v;
    return h("span.chip", { "data-health": k }, `${name}: ${shown}`);
  }));
}
