// Charts drawn as SVG, colours from the stylesheet (so they follow light
// and dark). Each chart has a text summary for screen readers (aria-label)
// and a <title> per mark for pointer users.

const NS = "http://www.w3.org/2000/svg";

function svg(tag, attrs, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs ?? {})) el.setAttribute(k, v);
  for (const c of children) if (c) el.append(c);
  return el;
}

function title(text) {
  const t = svg("title");
  t.textContent = text;
  return t;
}

function label(x, y, text, anchor = "start") {
  const t = svg("text", { x, y, "text-anchor": anchor });
  t.textContent = text;
  return t;
}

function clock(iso) {
  return new Date(iso).toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
}

function frame(summary, width, height) {
  return svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": summary });
}

/** Stacked bars: tasks finished per slice, by outcome. */
export function throughputChart(buckets) {
  const W = 600, H = 180, L = 34, B = 20;
  const keys = ["completed", "failed", "cancelled"];
  const total = (b) => keys.reduce((n, k) => n + b[k], 0);
  const max = Math.max(1, ...buckets.map(total));
  const sum = (k) => buckets.reduce((n, b) => n + b[k], 0);
  const root = frame(`Finished tasks over the window: ${sum("completed")} completed, ${sum("failed")} failed, ${sum("cancelled")} cancelled`, W, H);
  const plotH = H - B - 6, bw = (W - L) / Math.max(1, buckets.length);
  for (const f of [0, 0.5, 1]) {
    const y = 6 + plotH * (1 - f);
    root.append(svg("line", { class: "grid-line", x1: L, x2: W, y1: y, y2: y }));
    root.append(label(L - 4, y + 4, String(Math.round(max * f)), "end"));
  }
  buckets.forEach((b, i) => {
    let y = 6 + plotH;
    for (const k of keys) {
      if (!b[k]) continue;
      const hgt = (b[k] / max) * plotH;
      y -= hgt;
      root.append(svg("rect", { class: `c-${k}`, x: L + i * bw + 1, y, width: Math.max(1, bw - 2), height: hgt },
        title(`${clock(b.start)}: ${b[k]} ${k}`)));
    }
  });
  if (buckets.length) {
    root.append(label(L, H - 4, clock(buckets[0].start)));
    root.append(label(W, H - 4, "now", "end"));
  }
  return root;
}

/** A line: the share of finished tasks that failed, per slice. */
export function failureChart(buckets) {
  const W = 600, H = 140, L = 34, B = 20, plotH = H - B - 6;
  const points = [];
  buckets.forEach((b, i) => {
    const ended = b.completed + b.failed;
    if (ended) points.push([L + ((i + 0.5) * (W - L)) / buckets.length, b.failed / ended, b]);
  });
  const failed = buckets.reduce((n, b) => n + b.failed, 0);
  const ended = buckets.reduce((n, b) => n + b.completed + b.failed, 0);
  const rate = ended ? Math.round((100 * failed) / ended) : 0;
  const root = frame(`Failure rate over the window: ${ended ? rate + "%" : "no finished tasks"}`, W, H);
  for (const f of [0, 0.5, 1]) {
    const y = 6 + plotH * (1 - f);
    root.append(svg("line", { class: "grid-line", x1: L, x2: W, y1: y, y2: y }));
    root.append(label(L - 4, y + 4, `${f * 100}%`, "end"));
  }
  if (points.length) {
    const d = points.map(([x, r], i) => `${i ? "L" : "M"}${x.toFixed(1)},${(6 + plotH * (1 - r)).toFixed(1)}`).join(" ");
    root.append(svg("path", { class: "c-rate", d }));
    for (const [x, r, b] of points) {
      root.append(svg("circle", { class: "c-failed", cx: x, cy: 6 + plotH * (1 - r), r: 3 },
        title(`${clock(b.start)}: ${Math.round(r * 100)}% failed (${b.failed} of ${b.completed + b.failed})`)));
    }
  } else {
    root.append(label(W / 2, H / 2, "no finished tasks in the window", "middle"));
  }
  return root;
}

/**
 * Horizontal bars per provider: p50 and p95 of a latency, read from the
 * fields `${field}p50_ms` and `${field}p95_ms` ("" for the final attempt's
 * run time, "first_token_" for the time to first token).
 */
export function latencyChart(providers, field = "", what = "Latency") {
  const p50 = (p) => p[`${field}p50_ms`], p95 = (p) => p[`${field}p95_ms`];
  const rows = providers.filter((p) => p50(p) !== null && p50(p) !== undefined);
  const W = 600, rowH = 34, L = 120, H = Math.max(40, rows.length * rowH + 10);
  const max = Math.max(1, ...rows.map((p) => p95(p) ?? p50(p)));
  const summary = rows.length
    ? `${what} per provider: ` + rows.map((p) => `${p.provider} p50 ${p50(p)} ms, p95 ${p95(p)} ms`).join("; ")
    : `${what}: no completed tasks in the window`;
  const root = frame(summary, W, H);
  if (!rows.length) {
    root.append(label(W / 2, 24, "no completed tasks in the window", "middle"));
    return root;
  }
  rows.forEach((p, i) => {
    const y = 6 + i * rowH;
    const scale = (v) => ((W - L - 110) * v) / max;
    root.append(label(L - 6, y + 17, p.provider.length > 16 ? p.provider.slice(0, 15) + "…" : p.provider, "end"));
    root.append(svg("rect", { class: "c-p95", x: L, y, width: Math.max(1, scale(p95(p))), height: 24 }, title(`${p.provider} p95: ${p95(p)} ms`)));
    root.append(svg("rect", { class: "c-p50", x: L, y: y + 6, width: Math.max(1, scale(p50(p))), height: 12 }, title(`${p.provider} p50: ${p50(p)} ms`)));
    root.append(label(L + scale(p95(p)) + 6, y + 17, `${p50(p)} / ${p95(p)} ms`));
  });
  return root;
}
