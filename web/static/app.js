// gapscan web UI behaviour. Served from 'self' only (CSP forbids inline script). No content of scanned
// files ever reaches the browser: this only shows counts and status.
"use strict";

function formatSize(n) {
  const units = ["B", "KB", "MB", "GB", "TB"];
  let v = n, i = 0;
  while (v >= 1000 && i < units.length - 1) { v /= 1000; i++; }
  return i === 0 ? v.toFixed(0) + " B" : v.toFixed(1) + " " + units[i];
}

function formatDuration(s) {
  if (s === null || s === undefined) return "—";
  s = Math.max(0, s);
  if (s >= 3600) return Math.floor(s / 3600) + "h " + String(Math.floor((s % 3600) / 60)).padStart(2, "0") + "m";
  if (s >= 60) return Math.floor(s / 60) + "m " + String(Math.floor(s % 60)).padStart(2, "0") + "s";
  return s.toFixed(1) + " s";
}

function setField(root, name, text) {
  const el = root.querySelector('[data-field="' + name + '"]');
  if (el) el.textContent = text;  // textContent: never parsed as HTML
  return el;
}

function showProgress(root, p) {
  root.dataset.updates = String(Number(root.dataset.updates || 0) + 1);  // how many live updates arrived
  const status = setField(root, "status", p.status);
  if (status) status.className = "status " + p.status;
  setField(root, "stage", p.stage);
  setField(root, "percent", p.percent === null ? "" : p.percent + "%");
  setField(root, "files", p.total_files ? p.files + " of " + p.total_files : String(p.files));
  setField(root, "bytes", formatSize(p.bytes));
  setField(root, "rate", formatSize(p.rate) + "/s");
  setField(root, "eta", formatDuration(p.eta_s));
  const hits = setField(root, "hits", String(p.hits));
  if (hits) hits.className = p.hits ? "hot" : "";
  setField(root, "problems", p.errors + " / " + p.skipped);
  setField(root, "seconds", formatDuration(p.seconds));
  const bar = document.getElementById("bar");
  if (bar) {
    if (p.percent === null) bar.removeAttribute("value"); else bar.value = p.percent;
  }
  if (p.done) {
    const cancel = document.getElementById("cancel-form");
    if (cancel) cancel.remove();
    const link = document.getElementById("results-link");
    if (link) link.classList.remove("hidden");
    setField(document, "live", "");
    const note = document.getElementById("live-note");
    if (note) note.textContent = "";
  }
}

function watchProgress() {
  const root = document.getElementById("progress");
  if (!root || !root.dataset.events || !window.EventSource) return;
  const source = new EventSource(root.dataset.events);
  const handle = (ev) => showProgress(root, JSON.parse(ev.data));
  source.addEventListener("progress", handle);
  source.addEventListener("end", (ev) => { handle(ev); source.close(); });
  source.addEventListener("expired", () => { source.close(); window.location.reload(); });
}

function confirmForms() {
  document.querySelectorAll("form[data-confirm]").forEach((form) => {
    form.addEventListener("submit", (ev) => {
      if (!window.confirm(form.dataset.confirm)) ev.preventDefault();
    });
  });
}

function printButton() {
  const b = document.getElementById("print-button");
  if (b) b.addEventListener("click", () => window.print());
}

document.addEventListener("DOMContentLoaded", () => {
  watchProgress();
  confirmForms();
  printButton();
});
