// Task detail: its input (messages with text, images, tool calls and tool
// results; tools; parameters), its result or error, its attempts, and while
// it runs, its event stream (GET /api/v1/tasks/{id}/events): the status
// changes and the text as it streams, without reloading.

import { api, stream } from "./api.js";
import { h, badge, time, ms, duration, errorBox, announce } from "./dom.js";
import { cancelTask, resubmit, isActive } from "./actions.js";

export async function taskPage(main, signal, id) {
  let task = await api(`/api/v1/tasks/${encodeURIComponent(id)}`);
  const head = h("div");
  const outcome = h("section.panel", { "aria-labelledby": "r-h" });
  const attempts = h("section.panel", { "aria-labelledby": "a-h" });
  const liveText = h("pre.stream", { id: "live-text", "aria-live": "polite" });
  const live = h("section.panel", { "aria-labelledby": "s-h" }, h("h2", { id: "s-h" }, "Live output"), liveText);
  main.append(head, live, outcome, attempts, inputSection(task));

  function render() {
    const actions = h("div.row");
    if (isActive(task.status)) {
      actions.append(h("button.danger", { type: "button", id: "cancel", onclick: async (e) => {
        e.target.disabled = true;
        try {
          const t = await cancelTask(task.task_id);
          announce(t.status === "cancelled" ? "Task cancelled" : "Cancel requested; the worker stops the call");
          task = t;
          render();
        } catch (err) { actions.append(errorBox(err)); }
      } }, "Cancel"));
    }
    actions.append(h("button", { type: "button", onclick: async () => {
      try { const n = await resubmit(task); location.hash = `#/tasks/${n.task_id}`; } catch (err) { actions.append(errorBox(err)); }
    } }, "Resubmit as new task"));
    head.replaceChildren(
      h("p", h("a", { href: "#/tasks" }, "← Tasks")),
      h("h1", "Task ", h("span.mono", task.task_id), " ", h("span", { id: "task-status" }, badge(task.status))),
      h("div.panel", h("dl.facts",
        fact("Provider", task.provider), fact("Model", task.model),
        fact("Attempts", `${task.attempts} of ${task.max_attempts}`),
        fact("Created", time(task.created_at)), fact("Started", time(task.started_at)),
        fact("Finished", time(task.completed_at)),
        task.timeout_ms ? fact("Timeout", ms(task.timeout_ms)) : null,
        task.metadata ? fact("Metadata", h("code", JSON.stringify(task.metadata))) : null),
      actions));
    outcome.replaceChildren(h("h2", { id: "r-h" }, "Result"), resultView(task));
    attempts.replaceChildren(h("h2", { id: "a-h" }, "Attempts"), attemptsView(task));
    live.hidden = !isActive(task.status) && !liveText.textContent;
  }
  render();

  if (!isActive(task.status)) return;
  let attempt = 0;
  stream(`/api/v1/tasks/${encodeURIComponent(id)}/events`, async (name, data) => {
    if (name === "status") {
      task = { ...task, status: data.status, attempts: data.attempts, error_code: data.error_code };
      render();
      announce(`Task ${data.status}`);
    } else if (name === "delta") {
      if (data.attempt !== attempt) { liveText.textContent = ""; attempt = data.attempt; }
      liveText.textContent += data.text;
    } else if (name === "result" || name === "error") {
      task = await api(`/api/v1/tasks/${encodeURIComponent(id)}`);
      render();
    }
  }, signal).catch((err) => {
    if (!signal.aborted) live.append(errorBox(err));
  });
}

function fact(name, value) {
  return [h("dt", name), h("dd", value)];
}

function resultView(task) {
  if (task.error_code || task.error_message) {
    return h("div.alert", { role: "alert", id: "task-error" },
      h("strong.mono", task.error_code ?? "error"), ": ", task.error_message ?? "");
  }
  const r = task.result;
  if (!r) return h("p.muted", isActiveText(task.status));
  return h("div", { id: "task-result" },
    r.text ? h("pre", r.text) : h("p.muted", "No text (the model only called tools)."),
    r.refusal ? h("div.alert.warn", "Refused: ", r.refusal) : null,
    r.tool_calls?.length ? h("div", h("h3", "Tool calls"), r.tool_calls.map(toolCall)) : null,
    r.reasoning ? h("details", h("summary", "Reasoning"), h("pre", r.reasoning)) : null,
    h("dl.facts",
      fact("Finish reason", r.finish_reason), fact("Model", r.model),
      r.usage ? fact("Tokens", `${r.usage.input_tokens} in, ${r.usage.output_tokens} out`) : null));
}

function isActiveText(status) {
  return status === "pending" ? "Waiting for a worker." : status === "running" ? "Running…" : "No result.";
}

/**
 * Every attempt the task records (`attempt_log`: each target each claim
 * tried, with its outcome, duration, time to first token and error code). A task without a log
 * yet (running its first attempt, or from before the log existed) shows
 * its latest attempt from the task's own fields. An attempt whose worker
 * stopped is `interrupted`; over a route its target is not known.
 */
function attemptsView(task) {
  const log = task.attempt_log ?? [];
  // The latest attempt from the task's own fields when the log does not
  // have it yet (it is running, or the log predates it).
  const latest = task.attempts && !log.some((a) => a.attempt === task.attempts) ? [{
    attempt: task.attempts,
    target: task.route ? "" : `${task.provider}/${task.model}`,
    started_at: task.started_at,
    duration_ms: duration(task.started_at, task.completed_at),
    outcome: task.status,
    error_code: task.error_code,
    error_message: task.error_message,
  }] : [];
  const rows = [...log, ...latest];
  if (!rows.length) return h("p.muted", "Not attempted yet.");
  return h("div.table-wrap", h("table", { id: "attempts-table" },
    h("thead", h("tr", ["#", "Target", "Started", "Duration", "First token", "Outcome", "Error"].map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", rows.map((a) => h("tr", { "data-target": a.target },
      h("td.num", a.attempt), h("td.mono", a.target || (task.route ? `route ${task.route}` : "")), h("td", time(a.started_at)),
      h("td.num", ms(a.duration_ms)), h("td.num", ms(a.first_token_ms)),
      h("td", badge(a.outcome)),
      h("td", a.error_code ? [h("span.mono", a.error_code), a.error_message ? `: ${a.error_message}` : ""] : "")))),
    task.attempts > rows.length ? h("caption", `Attempt ${task.attempts} of ${task.max_attempts}; earlier attempts were retried.`) : null));
}

function inputSection(task) {
  const input = task.input;
  return h("section.panel", { "aria-labelledby": "i-h" },
    h("h2", { id: "i-h" }, "Input"),
    input.messages.map(message),
    input.tools?.length ? h("div", h("h3", "Tools offered"), input.tools.map((t) =>
      h("details", h("summary", h("span.mono", t.name), t.description ? ` — ${t.description}` : ""),
        h("pre", JSON.stringify(t.parameters ?? {}, null, 2))))) : null,
    Object.keys(input.params ?? {}).some((k) => input.params[k] !== null)
      ? h("details", h("summary", "Parameters"), h("pre", JSON.stringify(input.params, null, 2))) : null);
}

function message(m) {
  const parts = typeof m.content === "string" ? [{ type: "text", text: m.content }] : (m.content ?? []);
  return h("div.msg",
    h("div", h("span.role", m.role), m.name ? ` (${m.name})` : "",
      m.tool_call_id ? h("span.muted", " → result of ", h("span.mono", m.tool_call_id)) : ""),
    parts.map((p) => {
      if (p.type === "text") return h("pre", p.text);
      if (p.type === "image_url") {
        const url = p.image_url.url;
        return url.startsWith("data:")
          ? h("img", { src: url, alt: "An image in the message" })
          : h("p", "Image: ", h("a", { href: url, rel: "noreferrer noopener", target: "_blank" }, url));
      }
      return h("pre", JSON.stringify(p));
    }),
    (m.tool_calls ?? []).map(toolCall));
}

function toolCall(c) {
  let args = c.arguments;
  try { args = JSON.stringify(JSON.parse(c.arguments), null, 2); } catch { /* as written */ }
  return h("div.tool-call", h("span.chip", "tool call"), " ", h("strong.mono", c.name), " ", h("span.muted.mono", c.id), h("pre", args));
}
