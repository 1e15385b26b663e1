// Providers: each instance with its component, version, contract version,
// capabilities, models, limits, egress and load warnings, a button that
// runs the conformance suite against it (the report rendered as a table),
// and the plugin files that were refused, with why. Secret values never
// reach this page: the API sends secret headers by origin and name only.

import { api } from "./api.js";
import { h, ms, errorBox, announce } from "./dom.js";

export async function providersPage(main) {
  const list = h("div");
  const reload = h("button", { type: "button", onclick: async () => {
    reload.disabled = true;
    try {
      await api("/api/v1/providers/reload", { method: "POST" });
      announce("Plugins reloaded");
    } catch (err) {
      list.prepend(errorBox(err));
    } finally {
      reload.disabled = false;
    }
    await show();
  } }, "Reload plugins");
  main.append(h("div.row", h("h1", "Providers"), reload), list);

  async function show() {
    const data = await api("/api/v1/providers");
    const refused = data.refused.length ? [h("section.panel", { id: "refused", "aria-labelledby": "x-h" },
      h("h2", { id: "x-h" }, "Refused plugin files"),
      h("p.muted", "Each is tried again when its file changes; a provider of that name that loaded earlier keeps serving."),
      data.refused.map((f) => h("div.alert", { "data-refused": f.name },
        h("strong.mono", `${f.name}.wasm`), ": ", f.error)))] : [];
    list.replaceChildren(...refused, ...data.providers.map(provider));
  }
  await show();
}

function provider(p) {
  const caps = p.capabilities;
  const report = h("div", { "data-conformance": p.name, "aria-live": "polite" });
  const run = h("button", { type: "button", onclick: async () => {
    run.disabled = true;
    report.replaceChildren(h("p.muted", { role: "status" }, "Running the conformance suite…"));
    try {
      const r = await api(`/api/v1/providers/${encodeURIComponent(p.name)}/conformance`, { method: "POST" });
      report.replaceChildren(conformanceView(r));
      announce(`Conformance of ${p.name}: ${r.passed} passed, ${r.failed} failed`);
    } catch (err) {
      report.replaceChildren(errorBox(err));
    } finally {
      run.disabled = false;
    }
  } }, `Run conformance on ${p.name}`);
  return h("section.panel", { "data-provider": p.name, "aria-labelledby": `p-${p.name}` },
    h("div.row", h("h2", { id: `p-${p.name}` }, h("span.mono", p.name), " ", h("span.muted", `v${p.version}`)), run),
    p.description ? h("p", p.description) : null,
    (p.warnings ?? []).map((w) => h("div.alert.warn", { "data-warning": p.name }, h("strong", "Warning: "), w)),
    h("dl.facts",
      h("dt", "Component"), h("dd.mono", `${p.component}.wasm`),
      h("dt", "Contract"), h("dd.mono", p.contract_version),
      h("dt", "Features"), h("dd", chips(caps.features, "text only, no optional features")),
      h("dt", "Input media"), h("dd", chips(caps.input_media, "text only"))),
    h("div.grid",
      h("div", { "data-egress": p.name }, h("h3", "Egress"), egressView(p.egress)),
      h("div", { "data-limits": p.name }, h("h3", "Limits"), limitsView(p.limits))),
    h("div.table-wrap", h("table",
      h("caption.sr-only", `Models of ${p.name}`),
      h("thead", h("tr", ["Model", "Description", "Capabilities"].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", p.models.map((m) => h("tr",
        h("td.mono", m.id), h("td", m.description),
        h("td", m.capabilities ? chips([...m.capabilities.features, ...m.capabilities.input_media], "none") : h("span.muted", "as the provider"))))))),
    report);
}

function egressView(e) {
  if (!e) return h("p.muted", "unknown");
  return h("dl.facts",
    h("dt", "Allowed origins"), h("dd", e.allow.length ? h("ul.plain", e.allow.map((o) => h("li.mono", o))) : h("span.muted", "none: it reaches no host")),
    e.allow_addresses.length ? [h("dt", "Also allowed addresses"), h("dd", chips(e.allow_addresses, ""))] : null,
    h("dt", "Secret headers"), h("dd", e.secret_headers.length
      ? h("ul.plain", e.secret_headers.map((s) => h("li", h("span.mono", s.header), " for ", h("span.mono", s.origin), h("span.muted", " (value hidden)"))))
      : h("span.muted", "none")),
    h("dt", "Timeouts"), h("dd", `connect ${ms(e.connect_timeout_ms)}, first byte ${ms(e.first_byte_timeout_ms)}, between bytes ${ms(e.between_bytes_timeout_ms)}`),
    h("dt", "Largest response"), h("dd", bytes(e.max_response_bytes)));
}

function limitsView(limits) {
  const entries = Object.entries(limits ?? {});
  if (!entries.length) return h("p.muted", "unknown");
  return h("dl.facts", entries.map(([k, v]) => [h("dt.mono", k), h("dd", { "data-limit": k }, k.endsWith("_bytes") ? bytes(v) : String(v))]));
}

function bytes(n) {
  if (typeof n !== "number") return String(n);
  for (const [unit, size] of [["GiB", 1 << 30], ["MiB", 1 << 20], ["KiB", 1 << 10]]) {
    if (n >= size && n % size === 0) return `${n / size} ${unit}`;
  }
  return `${n} bytes`;
}

/** A conformance report: the summary, then one row per case, failures with their detail. */
function conformanceView(r) {
  const status = { pass: "completed", fail: "failed", not_applicable: "cancelled" };
  const label = { pass: "pass", fail: "fail", not_applicable: "n/a" };
  return h("div.panel.report",
    h("h3", `Conformance: ${r.failed ? "FAILED" : "PASSED"}`),
    h("p", { "data-summary": "" }, `${r.passed} passed, ${r.failed} failed, ${r.not_applicable} not applicable (contract ${r.contract_version})`),
    h("div.table-wrap", h("table", { "data-report": r.name },
      h("caption.sr-only", "Conformance cases"),
      h("thead", h("tr", ["Case", "Result", "Checks", "Time"].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", r.cases.map((c) => h("tr", { "data-case": c.name, "data-result": c.status },
        h("td.mono", c.name),
        h("td", h(`span.badge.s-${status[c.status]}`, label[c.status])),
        h("td", c.about,
          c.status === "fail" ? h("div.alert",
            c.expected ? h("div", h("strong", "expected: "), c.expected) : null,
            h("div", h("strong", "got: "), c.got),
            c.problems.map((p) => h("div", h("strong", "why: "), p)),
            c.hint ? h("div", h("strong", "to fix: "), c.hint) : null) : null,
          c.status === "not_applicable" && c.problems.length ? h("div.muted", c.problems[0]) : null),
        h("td.num", ms(c.duration_ms))))))));
}

function chips(items, none) {
  return items.length ? h("span.chips", items.map((i) => h("span.chip", i))) : h("span.muted", none);
}
