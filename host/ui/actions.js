// What the task pages can do to a task: cancel it, or submit its input
// again as a new task (the old one is left as it is).

import { api } from "./api.js";

export function cancelTask(id) {
  return api(`/api/v1/tasks/${encodeURIComponent(id)}/cancel`, { method: "POST" });
}

/** A new task with the same provider, model, input and settings. */
export function resubmit(task) {
  const body = {
    provider: task.provider,
    model: task.model,
    messages: task.input.messages,
    max_attempts: task.max_attempts,
  };
  if (task.input.tools?.length) body.tools = task.input.tools;
  if (task.input.params) body.params = task.input.params;
  if (task.timeout_ms) body.timeout_ms = task.timeout_ms;
  if (task.metadata) body.metadata = { ...task.metadata, resubmitted_from: task.task_id };
  else body.metadata = { resubmitted_from: task.task_id };
  return api("/api/v1/tasks", { method: "POST", body });
}

export function isActive(status) {
  return status === "pending" || status === "running";
}
