// Small DOM helpers shared by the pages. Text always goes in as text nodes,
// never as HTML, so nothing a task carries can run in the page.

/** h("p.muted", {id: "x"}, "text", child…): an element. */
export function h(tag, attrs, ...children) {
  const [name, ...classes] = tag.split(".");
  const el = document.createElement(name);
  if (classes.length) el.className = classes.join(" ");
  if (attrs !== null && attrs !== undefined && (typeof attrs !== "object" || attrs instanceof Node || Array.isArray(attrs))) {
    children.unshift(attrs);
    attrs = null;
  }
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : String(c));
  }
}

/** A status badge, its class naming the status. */
export function badge(status) {
  return h(`span.badge.s-${status}`, { "data-status": status }, status);
}

export function time(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  return d.toLocaleString(undefined, { dateStyle: "short", timeStyle: "medium" });
}

export function ms(n) {
  if (n === null || n === undefined) return "—";
  return n < 1000 ? `${n} ms` : `${(n / 1000).toFixed(n < 10000 ? 2 : 1)} s`;
}

export function duration(from, to) {
  if (!from || !to) return null;
  return new Date(to) - new Date(from);
}

/** Says `text` to screen readers. */
export function announce(text) {
  const el = document.getElementById("announce");
  if (el) el.textContent = text;
}

/** An error box for an ApiError or any error. */
export function errorBox(err) {
  return h("div.alert", { role: "alert" },
    err.code ? h("strong", err.code) : null, err.code ? ": " : null, err.message ?? String(err));
}

/** The hash route's query parameters. */
export function routeParams() {
  const hash = location.hash.slice(1);
  const i = hash.indexOf("?");
  return new URLSearchParams(i >= 0 ? hash.slice(i + 1) : "");
}
