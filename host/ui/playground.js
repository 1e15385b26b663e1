// Playground: pick a provider's model or a route, chat, and watch each
// answer stream. Each turn is a task (POST /api/v1/tasks with the
// conversation so far; over a route, its alias as the model and no provider),
// followed through its event stream, so it shows up in Tasks like any
// other. Tools (a JSON list) may be offered; the model's tool calls are
// shown with the answer.

import { api, stream, ApiError } from "./api.js";
import { h, errorBox, announce } from "./dom.js";

export async function playgroundPage(main, signal) {
  const [{ providers }, routes] = await Promise.all([api("/api/v1/providers"), routeNames()]);
  // A model id may be a pattern (`echo-slow:<ms>`): the field is free text,
  // suggesting the chosen provider's models. A route is its own choice: its
  // alias is the model, so the field is fixed to it.
  const provider = h("select", { id: "pg-provider", name: "provider" },
    h("optgroup", { label: "Providers" }, providers.map((p) => h("option", { value: p.name }, p.name))),
    routes.length ? h("optgroup", { label: "Routes" },
      routes.map((r) => h("option", { value: `route:${r}`, "data-route": r }, `route ${r}`))) : null);
  const models = h("datalist", { id: "pg-models" });
  const model = h("input", { id: "pg-model", name: "model", list: "pg-models", required: true, size: 24 });
  const routeOf = () => provider.selectedOptions[0]?.dataset.route;
  const suggest = () => {
    const route = routeOf();
    const p = route ? null : providers.find((x) => x.name === provider.value);
    models.replaceChildren(...(p?.models ?? []).map((m) => h("option", { value: m.id }, m.description)));
    model.value = route ?? p?.models[0]?.id ?? "";
    model.readOnly = Boolean(route);
  };
  provider.addEventListener("change", suggest);
  suggest();
  const system = h("textarea", { id: "pg-system", name: "system", rows: 2, placeholder: "optional" });
  const tools = h("textarea", { id: "pg-tools", name: "tools", rows: 3, placeholder: '[{"name": "get_weather", "parameters": {"type": "object"}}]' });
  const prompt = h("textarea", { id: "pg-prompt", name: "prompt", rows: 3, required: true });
  const send = h("button.primary", { type: "submit" }, "Send");
  const log = h("div", { id: "pg-log", "aria-live": "polite" });
  const history = [];
  const form = h("form.panel",
    h("div.row", h("label", { for: "pg-provider" }, "Provider", provider),
      h("label", { for: "pg-model" }, "Model", model), models,
      h("button", { type: "button", onclick: () => { history.length = 0; log.replaceChildren(); } }, "New chat")),
    h("label", { for: "pg-system" }, "System prompt", system),
    h("details", h("summary", "Tools (JSON)"), h("label", { for: "pg-tools" }, "Tools the model may call", tools)),
    h("label", { for: "pg-prompt" }, "Message", prompt),
    h("div.row", send));
  main.append(h("h1", "Playground"), form, h("section.panel", { "aria-label": "Conversation" }, log));
  prompt.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) form.requestSubmit();
  });

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const text = prompt.value.trim();
    if (!text) return;
    const route = routeOf();
    const body = route ? { model: route, messages: [] } : { provider: provider.value, model: model.value.trim(), messages: [] };
    if (system.value.trim()) body.messages.push({ role: "system", content: system.value.trim() });
    const turn = { role: "user", content: text };
    body.messages.push(...history, turn);
    if (tools.value.trim()) {
      try { body.tools = JSON.parse(tools.value); } catch (err) {
        log.append(errorBox({ code: "invalid_tools", message: `Tools: ${err.message}` }));
        return;
      }
    }
    send.disabled = true;
    log.append(h("div.msg", h("div.role", "user"), h("pre", text)));
    const answer = h("pre.stream", { "data-answer": "" });
    const meta = h("div.muted");
    log.append(h("div.msg", h("div.role", "assistant"), answer, meta));
    try {
      const task = await api("/api/v1/tasks", { method: "POST", body });
      meta.replaceChildren(h("a", { href: `#/tasks/${task.task_id}` }, `task ${task.task_id}`), " · ", h("span", { "data-pg-status": "" }, task.status));
      prompt.value = "";
      history.push(turn);
      await follow(task.task_id, answer, meta, history, signal);
    } catch (err) {
      if (!signal.aborted) log.append(errorBox(err));
    } finally {
      send.disabled = false;
    }
  });
}

/** The routes' aliases; none from a server that does not list them. */
async function routeNames() {
  try {
    return (await api("/api/v1/routes")).routes.map((r) => r.name);
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) return [];
    throw err;
  }
}

async function follow(id, answer, meta, history, signal) {
  let attempt = 0;
  const statusEl = () => meta.querySelector("[data-pg-status]");
  await stream(`/api/v1/tasks/${encodeURIComponent(id)}/events`, (name, data) => {
    if (name === "status") statusEl().textContent = data.status;
    if (name === "delta") {
      if (data.attempt !== attempt) { answer.textContent = ""; attempt = data.attempt; }
      answer.textContent += data.text;
    }
    if (name === "result") {
      statusEl().textContent = "completed";
      if (data.text !== answer.textContent) answer.textContent = data.text;
      for (const c of data.tool_calls ?? []) {
        meta.before(h("div.tool-call", h("span.chip", "tool call"), " ", h("strong.mono", c.name), h("pre", c.arguments)));
      }
      history.push({ role: "assistant", content: data.text || null, ...(data.tool_calls?.length ? { tool_calls: data.tool_calls } : {}) });
      announce("Answer complete");
    }
    if (name === "error") {
      statusEl().textContent = data.status;
      meta.after(h("div.alert", { role: "alert" }, h("strong.mono", data.error_code ?? "error"), ": ", data.error_message ?? ""));
    }
  }, signal);
}
