// The dashboard's shell: the hash router (#/overview, #/tasks?…,
// #/tasks/<id>, #/providers, #/routes, #/keys, #/playground), the login page, and the
// lifetime of each page (a page returns a cleanup that stops its streams).

import { api, clearToken, setToken, token, ApiError } from "./api.js";
import { h, errorBox } from "./dom.js";
import { overviewPage } from "./overview.js";
import { tasksPage } from "./tasks.js";
import { taskPage } from "./task.js";
import { providersPage } from "./providers.js";
import { routesPage } from "./routes.js";
import { keysPage } from "./keys.js";
import { playgroundPage } from "./playground.js";

const main = document.getElementById("main");
const signOut = document.getElementById("sign-out");
let cleanup = null;
// While the login page shows, a refused token is its own business.
let signingIn = false;

const PAGES = [
  [/^\/overview$/, "overview", "Overview", overviewPage],
  [/^\/tasks$/, "tasks", "Tasks", tasksPage],
  [/^\/tasks\/([^/]+)$/, "tasks", "Task", taskPage],
  [/^\/providers$/, "providers", "Providers", providersPage],
  [/^\/routes$/, "routes", "Routes", routesPage],
  [/^\/keys$/, "keys", "Keys", keysPage],
  [/^\/playground$/, "playground", "Playground", playgroundPage],
];

function stop() {
  if (cleanup) cleanup();
  cleanup = null;
}

async function route() {
  stop();
  const hash = location.hash.slice(1) || "/overview";
  const path = hash.split("?")[0];
  const found = PAGES.find(([re]) => re.test(path));
  if (!found) {
    location.replace("#/overview");
    return;
  }
  const [re, nav, title, page] = found;
  for (const a of document.querySelectorAll("#nav a")) {
    if (a.dataset.page === nav) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  document.title = `${title} · llmhost`;
  main.replaceChildren();
  const controller = new AbortController();
  cleanup = () => controller.abort();
  try {
    const args = path.match(re).slice(1).map(decodeURIComponent);
    await page(main, controller.signal, ...args);
  } catch (err) {
    if (controller.signal.aborted) return;
    if (err instanceof ApiError && err.status === 401) return; // the login page shows
    main.append(errorBox(err));
  }
}

function loginPage(reason) {
  stop();
  signingIn = true;
  document.title = "Sign in · llmhost";
  signOut.hidden = true;
  const input = h("input", { id: "token", name: "token", type: "password", autocomplete: "current-password", required: true });
  const remember = h("input", { id: "remember", type: "checkbox" });
  const status = h("p", { role: "status" });
  const form = h("form.panel.login", { "aria-labelledby": "login-title" },
    h("h1", { id: "login-title" }, "Sign in to llmhost"),
    h("p.muted", "This server asks for an API token (one of its --auth-token values). It stays in this browser and is sent only in the Authorization header."),
    reason ? h("div.alert", { role: "alert" }, reason) : null,
    h("label", { for: "token" }, "API token", input),
    h("label.check", { for: "remember" }, remember, "Remember on this device"),
    h("button.primary", { type: "submit" }, "Sign in"),
    status);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    setToken(input.value.trim(), remember.checked);
    try {
      await api("/api/v1/providers");
      started();
    } catch (err) {
      clearToken();
      status.replaceChildren(errorBox(err));
    }
  });
  main.replaceChildren(form);
  input.focus();
}

function started() {
  signingIn = false;
  signOut.hidden = !token();
  route();
}

window.addEventListener("hashchange", route);
window.addEventListener("llmhost:unauthorized", () => {
  if (signingIn) return;
  const had = token();
  clearToken();
  loginPage(had ? "The token was not accepted; sign in again." : null);
});
signOut.addEventListener("click", () => {
  clearToken();
  loginPage("Signed out.");
});

// Whether this server needs a token (and whether the one kept still works).
api("/api/v1/providers").then(started).catch((err) => {
  if (!(err instanceof ApiError && err.status === 401)) {
    main.replaceChildren(errorBox(err));
  }
});
