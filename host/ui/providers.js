// Providers: each instance with its component, version, contract version,
// capabilities and models, and the plugin files that were refused, with
// why. Secret values never reach this page: the API does not send them.

import { api } from "./api.js";
import { h, errorBox, announce } from "./dom.js";

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
  return h("section.panel", { "data-provider": p.name, "aria-labelledby": `p-${p.name}` },
    h("h2", { id: `p-${p.name}` }, h("span.mono", p.name), " ", h("span.muted", `v${p.version}`)),
    p.description ? h("p", p.description) : null,
    h("dl.facts",
      h("dt", "Component"), h("dd.mono", `${p.component}.wasm`),
      h("dt", "Contract"), h("dd.mono", p.contract_version),
      h("dt", "Features"), h("dd", chips(caps.features, "text only, no optional features")),
      h("dt", "Input media"), h("dd", chips(caps.input_media, "text only"))),
    h("div.table-wrap", h("table",
      h("caption.sr-only", `Models of ${p.name}`),
      h("thead", h("tr", ["Model", "Description", "Capabilities"].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", p.models.map((m) => h("tr",
        h("td.mono", m.id), h("td", m.description),
        h("td", m.capabilities ? chips([...m.capabilities.features, ...m.capabilities.input_media], "none") : h("span.muted", "as the provider"))))))));
}

function chips(items, none) {
  return items.length ? h("span.chips", items.map((i) => h("span.chip", i))) : h("span.muted", none);
}
