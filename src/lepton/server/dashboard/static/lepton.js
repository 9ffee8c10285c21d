// Lepton dashboard: the small amount of script the server-rendered pages need.
// 1. Forms marked data-api call the REST API as JSON with the session's CSRF token.
// 2. Figures marked data-chart draw line charts as SVG from a JSON route, refreshed live.
// No dependencies and no build step. (c) the Lepton authors, same licence as the package.
"use strict";
(function () {
  const csrf = () => (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  // ---- the REST API -----------------------------------------------------------------------
  async function api(method, url, body) {
    const headers = { "x-csrf-token": csrf(), accept: "application/json" };
    if (body !== undefined) headers["content-type"] = "application/json";
    const response = await fetch(url, {
      method, headers, credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (e) { data = text; }
    if (!response.ok) {
      const message = data && data.error ? data.error.message : `The server answered ${response.status}.`;
      const error = new Error(message);
      error.status = response.status;
      throw error;
    }
    return data;
  }

  // Put ``value`` at a dotted path ("inputs.0.age") of ``target``, making arrays for numbers.
  function place(target, path, value) {
    const parts = path.split(".");
    let node = target;
    parts.forEach((part, i) => {
      const key = /^\d+$/.test(part) ? Number(part) : part;
      if (i === parts.length - 1) { node[key] = value; return; }
      if (node[key] === undefined) node[key] = /^\d+$/.test(parts[i + 1]) ? [] : {};
      node = node[key];
    });
  }

  // data-api="/api/v1/models/m/aliases/{alias}": each {name} takes the (URL-encoded) value of
  // the form's field of that name, so a field can choose which resource the call changes.
  function urlOf(form, inUrl) {
    return form.dataset.api.replace(/\{([\w.]+)\}/g, (_, name) => {
      const field = form.elements.namedItem(name);
      const value = field && typeof field.value === "string" ? field.value.trim() : "";
      if (!value) throw new Error(`Fill in ${name}.`);
      inUrl.add(name);
      return encodeURIComponent(value);
    });
  }

  // The form's fields as a JSON body (but those that went into the URL).
  // Empty fields: data-empty="omit" (default), "null" or "keep".
  function bodyOf(form, inUrl) {
    const body = {};
    const empty = form.dataset.empty || "omit";
    for (const el of form.elements) {
      if (!el.name || el.disabled || el.type === "submit" || el.type === "button") continue;
      if (inUrl.has(el.name)) continue;
      let value;
      if (el.type === "checkbox") value = el.checked;
      else if (el.type === "radio") { if (!el.checked) continue; value = el.value; }
      else if (el.value === "") {
        if (empty === "omit") continue;
        value = empty === "null" ? null : "";
      } else if (el.type === "number" || el.dataset.type === "number") value = Number(el.value);
      else if (el.dataset.type === "json") value = JSON.parse(el.value);
      else if (el.dataset.type === "list") value = el.value.split(",").map((s) => s.trim()).filter(Boolean);
      else value = el.value;
      place(body, el.name, value);
    }
    return body;
  }

  function say(form, message, kind) {
    const status = form.querySelector(".form-status");
    if (status) { status.textContent = message; status.className = `form-status ${kind}`; }
    else toast(message);
  }

  function toast(message) {
    const box = document.getElementById("toast");
    if (!box) return;
    box.textContent = message;
    setTimeout(() => { if (box.textContent === message) box.textContent = ""; }, 6000);
  }

  document.addEventListener("submit", async (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.dataset.api) return;
    event.preventDefault();
    const method = (form.dataset.method || "POST").toUpperCase();
    const inUrl = new Set();
    let url, body;
    try { url = urlOf(form, inUrl); }
    catch (error) { say(form, error.message, "error"); return; }
    try { body = method === "GET" || method === "DELETE" ? undefined : bodyOf(form, inUrl); }
    catch (error) { say(form, `A field is not valid JSON: ${error.message}`, "error"); return; }
    if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) return;
    const buttons = form.querySelectorAll("button");
    buttons.forEach((b) => { b.disabled = true; });
    say(form, "Working…", "");
    try {
      const answer = await api(method, url, body);
      const then = form.dataset.then || "reload";
      if (then === "result") {
        const out = form.querySelector(".result");
        if (out) out.textContent = JSON.stringify(answer, null, 2);
        say(form, "Done.", "ok");
      } else if (then === "reload") {
        window.location.reload();
      } else {
        window.location.assign(then);
      }
    } catch (error) {
      say(form, error.message, "error");
    } finally {
      buttons.forEach((b) => { b.disabled = false; });
    }
  });

  // ---- charts -----------------------------------------------------------------------------
  const COLORS = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#be185d", "#4b5563"];
  const SVG = "http://www.w3.org/2000/svg";
  const MAX_MARKERS = 300;

  function el(name, attrs, parent) {
    const node = document.createElementNS(SVG, name);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (parent) parent.appendChild(node);
    return node;
  }

  function ticks(lo, hi, count) {
    if (!(hi > lo)) return [lo];
    const raw = (hi - lo) / count;
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) || raw;
    const out = [];
    for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
    return out;
  }

  function label(value, time) {
    if (time) {
      const d = new Date(value * 1000);
      return `${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`;
    }
    if (Math.abs(value) >= 1e4 || (Math.abs(value) < 1e-3 && value !== 0)) return value.toExponential(1);
    return String(Number(value.toPrecision(4)));
  }

  function draw(figure, data, options) {
    const plot = figure.querySelector(".plot");
    const series = (data.series || []).filter((s) => s.points && s.points.length);
    plot.textContent = "";
    if (!series.length) {
      const p = document.createElement("p");
      p.className = "muted";
      p.textContent = data.empty || "No points yet.";
      plot.appendChild(p);
      figure.dataset.points = "0";
      return;
    }
    const W = 640, H = options.height || 220, L = 56, R = 12, T = 10, B = 34;
    const xs = series.flatMap((s) => s.points.map((p) => p[0]));
    const ys = series.flatMap((s) => s.points.map((p) => p[1])).filter((v) => v !== null && isFinite(v));
    let [x0, x1] = [Math.min(...xs), Math.max(...xs)];
    let [y0, y1] = [Math.min(...ys), Math.max(...ys)];
    if (x0 === x1) { x0 -= 1; x1 += 1; }
    if (y0 === y1) { const pad = Math.abs(y0) * 0.1 || 1; y0 -= pad; y1 += pad; }
    const sx = (x) => L + ((x - x0) / (x1 - x0)) * (W - L - R);
    const sy = (y) => T + (1 - (y - y0) / (y1 - y0)) * (H - T - B);
    const time = options.x_label === "time";
    const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, focusable: "false", "aria-hidden": "true" }, plot);
    for (const t of ticks(y0, y1, 4)) {
      el("line", { class: "grid-line", x1: L, x2: W - R, y1: sy(t), y2: sy(t) }, svg);
      el("text", { x: L - 6, y: sy(t) + 4, "text-anchor": "end" }, svg).textContent = label(t, false);
    }
    for (const t of ticks(x0, x1, 6)) {
      el("text", { x: sx(t), y: H - B + 16, "text-anchor": "middle" }, svg).textContent = label(t, time);
    }
    el("line", { class: "axis", x1: L, x2: W - R, y1: H - B, y2: H - B }, svg);
    el("line", { class: "axis", x1: L, x2: L, y1: T, y2: H - B }, svg);
    if (options.x_label && !time) el("text", { x: (L + W - R) / 2, y: H - 4, "text-anchor": "middle" }, svg).textContent = options.x_label;
    if (options.y_label) el("text", { x: 12, y: (T + H - B) / 2, transform: `rotate(-90 12 ${(T + H - B) / 2})`, "text-anchor": "middle" }, svg).textContent = options.y_label;
    const total = series.reduce((n, s) => n + s.points.length, 0);
    const legend = document.createElement("div");
    legend.className = "legend";
    series.forEach((s, i) => {
      const color = COLORS[i % COLORS.length];
      const points = s.points.filter((p) => p[1] !== null && isFinite(p[1]));
      const d = points.map((p, j) => `${j ? "L" : "M"}${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join("");
      el("path", { class: "series", d, stroke: color, "data-series": s.name, "data-count": points.length }, svg);
      if (total <= MAX_MARKERS) {
        for (const p of points) {
          const dot = el("circle", { cx: sx(p[0]), cy: sy(p[1]), r: 2.5, fill: color, class: "point" }, svg);
          el("title", {}, dot).textContent = `${s.name}: ${label(p[1], false)} at ${options.x_label || "x"} ${label(p[0], time)}`;
        }
      }
      const item = document.createElement("span");
      const swatch = document.createElement("i");
      swatch.style.background = color;
      item.appendChild(swatch);
      item.appendChild(document.createTextNode(`${s.name} (${points.length})`));
      legend.appendChild(item);
    });
    plot.appendChild(legend);
    figure.dataset.points = String(total);
  }

  async function load(figure) {
    const options = JSON.parse(figure.dataset.chart || "{}");
    try {
      const data = await api("GET", options.src);
      draw(figure, data, options);
      figure.dataset.loaded = "true";
    } catch (error) {
      const plot = figure.querySelector(".plot");
      plot.textContent = `Could not load the chart: ${error.message}`;
      figure.dataset.loaded = "error";
    }
    if (options.refresh > 0) {
      setTimeout(() => { if (document.visibilityState !== "hidden") load(figure); else setTimeout(() => load(figure), 1000); }, options.refresh * 1000);
    }
  }

  function start() { document.querySelectorAll("figure[data-chart]").forEach(load); }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();

  window.lepton = { api, toast };
})();
