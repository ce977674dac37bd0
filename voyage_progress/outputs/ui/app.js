// The dashboard: the sidecar's JSON stream (/events, docs/STREAM.md) as one card per batch.
// Plain JavaScript, no build step. It reconnects by itself when the sidecar restarts.
"use strict";

const SCHEMA = 1;
const RETRY_FIRST = 500, RETRY_MAX = 5000; // ms between attempts to reconnect, doubling
const STALE_AFTER = 5000; // ms without any message (the sidecar beats every second)
const ENDED = { completed: "done", failed: "fail", cancelled: "fail", expired: "fail", error: "fail" };
const WAITING = { pending: "wait", validating: "wait", finalizing: "wait", cancelling: "wait" };

const batches = new Map(); // slot -> the batch's latest fields
let sidecar = null, summary = null, socket = null, retry = RETRY_FIRST, lastMessage = 0;

const $ = (id) => document.getElementById(id);

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  socket = new WebSocket(`${scheme}://${location.host}/events`);
  socket.onopen = () => { retry = RETRY_FIRST; };
  socket.onmessage = (message) => {
    lastMessage = Date.now();
    try { receive(JSON.parse(message.data)); } catch (error) { console.error(error); }
  };
  socket.onclose = () => {
    document.body.dataset.connected = "false";
    showHealth("down", "sidecar not reachable: reconnecting…");
    setTimeout(connect, retry);
    retry = Math.min(retry * 2, RETRY_MAX);
  };
}

function receive(message) {
  if (message.schema !== SCHEMA) {
    showHealth("down", `unknown stream schema ${message.schema}: reload the page`);
    return;
  }
  document.body.dataset.connected = "true";
  if (message.type === "state") {
    batches.clear();
    for (const batch of message.batches) batches.set(batch.slot, batch);
    sidecar = message.sidecar; summary = message.summary;
    render();
  } else if (message.type === "batch") {
    batches.set(message.batch.slot, message.batch);
    summary = message.summary;
    render();
  } else if (message.type === "event") {
    if (message.kind === "unwatch") batches.delete(message.slot);
    else if (message.batch) batches.set(message.batch.slot, message.batch);
    render();
  } else if (message.type === "health") {
    sidecar = message.sidecar;
    renderHealth();
  }
}

function render() {
  renderHealth();
  renderSummary();
  const main = $("batches");
  const slots = [...batches.keys()].sort((a, b) => a - b);
  for (const card of [...main.children]) {
    if (!batches.has(Number(card.dataset.slot))) card.remove();
  }
  // whose batch it is only says something when the batches are of several providers
  const mixed = new Set([...batches.values()].map((batch) => batch.provider)).size > 1;
  for (const slot of slots) renderBatch(main, batches.get(slot), mixed);
  $("empty").hidden = slots.length > 0;
}

function renderHealth() {
  if (!sidecar) return;
  $("version").textContent = `sidecar ${sidecar.version}`;
  if (!sidecar.running) showHealth("down", "sidecar stopped");
  else if (!sidecar.api_ok) showHealth("api", sidecar.message);
  else showHealth("ok", `${sidecar.message} · ${sidecar.watching} watched`);
}

function showHealth(state, text) {
  const health = $("health");
  health.dataset.state = state;
  health.textContent = text;
}

function renderSummary() {
  if (!summary) return;
  const section = $("summary");
  setBar(section.querySelector(".bar"), summary.percent);
  const eta = summary.active ? ` · all done in ${duration(summary.eta)}` : "";
  section.querySelector(".figures").textContent =
    `${summary.percent.toFixed(1)} % of ${summary.total} requests · ${summary.active} active${eta}`;
}

function renderBatch(main, batch, mixed) {
  let card = main.querySelector(`[data-slot="${batch.slot}"]`);
  if (!card) {
    card = $("batch-card").content.firstElementChild.cloneNode(true);
    card.dataset.slot = batch.slot;
    const after = [...main.children].find((other) => Number(other.dataset.slot) > batch.slot);
    main.insertBefore(card, after || null);
  }
  card.dataset.kind = ENDED[batch.status] || WAITING[batch.status] || "run";
  card.dataset.id = batch.id;
  text(card, ".label", batch.label || `slot ${batch.slot}`);
  text(card, ".status", batch.status.replace("_", " "));
  text(card, ".id", batch.id);
  card.querySelector(".provider").hidden = !mixed;
  text(card, ".provider", batch.provider);
  setBar(card.querySelector(".bar"), batch.percent);
  text(card, ".percent", `${batch.percent.toFixed(1)} %`);
  const failed = batch.failed ? ` · ${batch.failed} failed` : "";
  text(card, ".counts", `${batch.completed + batch.failed} / ${batch.total}${failed}`);
  text(card, ".rate", batch.rate === null ? "–" : `${batch.rate.toFixed(1)}/s`);
  text(card, ".eta", eta(batch));
  const error = card.querySelector(".error");
  error.hidden = !batch.error;
  error.textContent = batch.error;
}

function eta(batch) {
  if (batch.is_complete) return "done";
  if (batch.is_terminal) return "–";
  if (batch.eta === null) return batch.status === "finalizing" ? "finalizing" : "unknown";
  const band = batch.eta_low !== null && batch.eta_high !== null
    ? ` (${duration(batch.eta_low)}–${duration(batch.eta_high)})` : "";
  return duration(batch.eta) + band;
}

function duration(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} m ${String(s % 60).padStart(2, "0")} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")} m`;
}

function setBar(bar, percent) {
  bar.firstElementChild.style.width = `${Math.max(0, Math.min(100, percent))}%`;
  bar.setAttribute("aria-valuenow", percent.toFixed(1));
}

function text(card, selector, value) {
  const element = card.querySelector(selector);
  if (element.textContent !== value) element.textContent = value;
}

setInterval(() => {
  if (socket && socket.readyState === WebSocket.OPEN && Date.now() - lastMessage > STALE_AFTER) {
    showHealth("down", "no news from the sidecar for a while");
  }
}, 1000);

connect();
