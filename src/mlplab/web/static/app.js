// mlplab playground page: settings -> POST /api/session -> frames over a WebSocket -> plotly views.
// All training happens on the server through mlplab.train; this file only draws and sends commands.
"use strict";

const $ = (id) => document.getElementById(id);
const CLASS_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
const MAX_KEPT_FRAMES = 300;   // replay buffer; every other frame is dropped when full
const MAX_CURVE_POINTS = 4000; // loss curve points kept on the page
const MAX_URL_POINTS = 300;    // drawn points beyond this are not put in the link

let options = null, session = null, ws = null, latest = null, drawPending = false;
let kept = [], curve = { epoch: [], train: [], test: [] };
// The server owns the state (idle, running, paused, finished, diverged, error, closed); the page
// only shows the newest one it was told. Until a socket is open the page is "connecting", and the
// commands clicked meanwhile wait in `pending`, then go to the session that opens next.
let state = "connecting", stateMessage = "", lastSeq = 0, pending = [], configuring = false;
const STOPPED = ["finished", "diverged", "error", "closed", "disconnected"];
let custom = null;             // {task, X, y} from an upload or drawing
let applying = false;
let lastConfig = null;
let configSeq = 0;             // only the newest settings' session is connected

function f32(b64) {
  const bin = atob(b64), bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return new Float32Array(bytes.buffer);
}

function showError(text) {
  const box = $("error");
  if (!text) { box.hidden = true; box.textContent = ""; return; }
  box.hidden = false; box.textContent = text;
}

function fill(select, values, labels) {
  select.innerHTML = "";
  values.forEach((v, i) => {
    const o = document.createElement("option");
    o.value = v; o.textContent = labels ? labels[i] : v; select.appendChild(o);
  });
}

function num(id) { const v = $(id).value; return v === "" ? null : Number(v); }

// ---- settings <-> config <-> URL

function currentTask() {
  if (custom) return custom.task;
  const d = options.datasets.find((d) => d.name === $("dataset").value);
  return d ? d.task : "binary";
}

function readConfig() {
  const layers = num("layers"), width = num("width");
  const hidden = Array.from({ length: Math.max(0, layers || 0) }, () => width);
  const data = custom
    ? { name: "custom", task: custom.task, X: custom.X, y: custom.y, test_fraction: num("test_fraction"), seed: num("data_seed") }
    : { name: $("dataset").value, noise: num("noise"), n: num("n"), test_fraction: num("test_fraction"), seed: num("data_seed") };
  const train = { optimizer: $("optimizer").value, lr: num("lr"), weight_decay: num("weight_decay"),
                  loss: $("loss_fn").value, seed: num("seed") };
  const bs = num("batch_size");
  if (bs) train.batch_size = bs;
  const stop = { epochs: num("stop_epochs") };
  if (num("stop_loss") !== null) stop.loss = num("stop_loss");
  return { data, model: { hidden, activation: $("activation").value, residual: $("residual").checked,
           norm: $("norm").value, init: $("init").value }, train, stop };
}

function setLossChoices(keep) {
  const losses = options.losses[currentTask()];
  fill($("loss_fn"), losses);
  $("loss_fn").value = losses.includes(keep) ? keep : losses[0];
}

function applyConfig(c) {
  applying = true;
  const d = c.data || {}, m = c.model || {}, t = c.train || {}, s = c.stop || {};
  if (d.name === "custom") custom = { task: d.task, X: d.X, y: d.y };
  else { custom = null; if (d.name) $("dataset").value = d.name; }
  if (d.name !== "custom") { $("noise").value = d.noise ?? ""; $("n").value = d.n ?? ""; }
  if (d.test_fraction !== undefined) $("test_fraction").value = d.test_fraction;
  if (d.seed !== undefined) $("data_seed").value = d.seed;
  if (m.hidden) { $("layers").value = m.hidden.length; if (m.hidden.length) $("width").value = m.hidden[0]; }
  if (m.activation) $("activation").value = m.activation;
  $("residual").checked = !!m.residual;
  if (m.norm) $("norm").value = m.norm;
  if (m.init) $("init").value = m.init;
  if (t.optimizer) $("optimizer").value = t.optimizer;
  if (t.lr !== undefined) $("lr").value = t.lr;
  $("batch_size").value = t.batch_size || 0;
  if (t.weight_decay !== undefined) $("weight_decay").value = t.weight_decay;
  if (t.seed !== undefined) $("seed").value = t.seed;
  setLossChoices(t.loss);
  if (s.epochs) $("stop_epochs").value = s.epochs;
  $("stop_loss").value = s.loss !== undefined && s.loss !== null ? s.loss : "";
  applying = false;
}

function writeUrl(config) {
  const c = JSON.parse(JSON.stringify(config));
  if (c.data.name === "custom" && c.data.X.length > MAX_URL_POINTS) { c.data = { name: $("dataset").value }; }
  history.replaceState(null, "", "#" + encodeURIComponent(JSON.stringify(c)));
}

function readUrl() {
  if (location.hash.length < 2) return null;
  try { return JSON.parse(decodeURIComponent(location.hash.slice(1))); }
  catch (e) { showError("link: expected settings written by the playground, got text it cannot read; using defaults"); return null; }
}

// ---- server

async function startSession(body) {
  const res = await fetch("/api/session", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  const out = await res.json().catch(() => ({ error: `server answered ${res.status}` }));
  if (!res.ok) { showError(out.error || `server answered ${res.status}`); return null; }
  return out;
}

async function configure() {
  if (applying) return;
  const config = readConfig(), text = JSON.stringify(config);
  if (text === lastConfig) return;  // a change event with nothing changed (e.g. blur after typing)
  lastConfig = text;
  const mine = ++configSeq;
  configuring = true; showState();
  writeUrl(config);
  const info = await startSession(config);
  if (mine !== configSeq) { if (info) fetch(`/api/session/${info.id}`, { method: "DELETE" }); return; }
  if (!info) { configuring = false; flush(); showState(); return; }  // refused: the old session stays
  showError(null);
  connect(info, mine);
}

function connect(info, seq) {
  info.seq = seq;
  if (ws) { ws.onclose = null; ws.onmessage = null; ws.close(); }
  session = info; latest = null; kept = []; curve = { epoch: [], train: [], test: [] };
  lastSeq = 0; state = "connecting"; stateMessage = ""; showState();
  $("export").href = `/api/session/${info.id}/export`;
  $("metric-name").textContent = info.task === "regression" ? "R²" : "accuracy";
  $("snippet").hidden = true;
  const sock = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/api/session/${info.id}/ws`);
  ws = sock;
  sock.onopen = () => { if (sock === ws) { configuring = false; flush(); } };
  sock.onmessage = (ev) => { if (sock === ws) onMessage(JSON.parse(ev.data)); };
  sock.onclose = () => {
    if (sock !== ws) return;
    if (state !== "closed") { state = "disconnected"; stateMessage = "reload the page"; }
    showState();
  };
  drawLoss();
}

function send(cmd, value) {
  pending.push(JSON.stringify(value === undefined ? { cmd } : { cmd, value }));
  flush();
}

function flush() {
  if (configuring || !ws || ws.readyState !== WebSocket.OPEN) { showState(); return; }
  while (pending.length) {
    ws.send(pending.shift());
    document.body.dataset.sent = String(Number(document.body.dataset.sent || 0) + 1);  // for the browser tests
  }
}

function onMessage(m) {
  if (m.seq !== undefined) {
    if (m.seq <= lastSeq) return;  // never show an older state over a newer one
    lastSeq = m.seq;
  }
  if (m.state) { state = m.state; stateMessage = m.message || ""; showState(); }
  if (m.type === "error") { showError(m.error); return; }
  if (m.type === "lr") { $("lr").value = m.lr; return; }
  if (m.type !== "frame") return;
  if (m.epoch === 0 && curve.epoch.length) { curve = { epoch: [], train: [], test: [] }; kept = []; }
  if (!curve.epoch.length || curve.epoch[curve.epoch.length - 1] !== m.epoch) {
    curve.epoch.push(m.epoch); curve.train.push(m.loss); curve.test.push(m.test_loss === undefined ? null : m.test_loss);
    if (curve.epoch.length > MAX_CURVE_POINTS) for (const k of ["epoch", "train", "test"]) curve[k] = curve[k].filter((_, i) => i % 2 === 0);
  }
  if (!m.units && latest && latest.units) m.units = latest.units;
  if (!m.regions && latest && latest.regions) m.regions = latest.regions;
  kept.push(m);
  if (kept.length > MAX_KEPT_FRAMES) kept = kept.filter((_, i) => i % 2 === 0 || i === kept.length - 1);
  latest = m;
  const sc = $("scrubber"); sc.max = kept.length - 1; sc.value = kept.length - 1;
  if (!drawPending) { drawPending = true; requestAnimationFrame(() => { drawPending = false; render(latest, true); }); }
}

// Status text and buttons follow the server's state; queued clicks are shown until the socket opens.
function showState() {
  const shown = configuring || !ws ? "connecting" : state;
  let text = shown === "connecting" ? "connecting" : shown;
  if (shown === "connecting" && pending.length) text += ` (${pending.map((p) => JSON.parse(p).cmd).join(", ")} queued)`;
  else if (stateMessage && shown !== "connecting") text += `: ${stateMessage}`;
  $("status").textContent = text;
  document.body.dataset.state = shown;
  const stopped = STOPPED.includes(shown);
  $("play").textContent = shown === "running" ? "Pause" : "Play";
  $("play").disabled = stopped;
  $("step").disabled = stopped;
  $("reset").disabled = shown === "closed" || shown === "disconnected";
}

// ---- drawing

function fmt(v) { return v === null || v === undefined ? "-" : Number(v).toPrecision(5); }

function render(f, live) {
  if (!f || !session) return;
  $("epoch").textContent = f.epoch;
  $("loss").textContent = fmt(f.loss);
  $("test-loss").textContent = fmt(f.test_loss);
  $("metric").textContent = fmt(f.metric);
  $("scrub-label").textContent = `epoch ${f.epoch}`;
  drawView(f);
  if (live) drawLoss();
  drawRegions(f.regions);
  if (f.units && f.units.z) drawUnits(f.units);
}

function axes() {
  const g = session.grid, [[x0, x1], [y0, y1]] = session.box;
  const ax = (lo, hi) => Array.from({ length: g }, (_, i) => lo + (hi - lo) * i / (g - 1));
  return [ax(x0, x1), ax(y0, y1)];
}

function pointTraces() {
  const s = session, traces = [];
  const add = (X, y, test) => {
    if (!X) return;
    if (s.task === "regression") {
      traces.push({ type: "scatter", mode: "markers", x: X.map((p) => p[0]), y: s.d_in === 1 ? y.map((v) => v[0]) : X.map((p) => p[1]),
        name: test ? "test" : "train", hoverinfo: "skip",
        marker: s.d_in === 1 ? { color: test ? "#999" : "#222", size: 7 } :
          { color: y.map((v) => v[0]), colorscale: "Viridis", size: 5, line: { width: test ? 1 : 0, color: "#000" } } });
      return;
    }
    traces.push({ type: "scatter", mode: "markers", x: X.map((p) => p[0]), y: X.map((p) => p[1]), name: test ? "test" : "train",
      hoverinfo: "skip", marker: { color: y.map((c) => CLASS_COLORS[c % 10]), size: 6,
        symbol: test ? "circle-open" : "circle", line: { width: 1, color: test ? undefined : "#fff" } } });
  };
  add(s.X, s.y, false); add(s.X_test, s.y_test, true);
  return traces;
}

function drawView(f) {
  const s = session, v = f.view, layout = { margin: { l: 40, r: 10, t: 10, b: 30 }, showlegend: false,
    xaxis: { range: s.box[0] }, yaxis: { range: s.d_in === 2 ? s.box[1] : undefined } };
  let traces = [];
  if (v.kind === "curve") {
    traces = pointTraces();
    traces.push({ type: "scatter", mode: "lines", x: s.curve_x, y: Array.from(f32(v.y)), name: "model", line: { color: "#d62728" } });
  } else if (v.kind === "mapping") {
    const pred = f32(v.pred), lines = f32(v.lines), n = s.X.length;
    const lx = [], ly = [];
    for (let i = 0; i < lines.length / 2; i++) { lx.push(lines[2 * i]); ly.push(lines[2 * i + 1]); if (i % 40 === 39) { lx.push(null); ly.push(null); } }
    traces.push({ type: "scatter", mode: "lines", x: lx, y: ly, line: { color: "rgba(90,90,90,0.35)", width: 1 }, hoverinfo: "skip", name: "grid" });
    traces.push({ type: "scatter", mode: "markers", x: s.y.map((p) => p[0]), y: s.y.map((p) => p[1]), name: "target",
      marker: { color: "rgba(0,0,0,0.15)", size: 6 }, hoverinfo: "skip" });
    traces.push({ type: "scatter", mode: "markers", x: Array.from({ length: n }, (_, i) => pred[2 * i]),
      y: Array.from({ length: n }, (_, i) => pred[2 * i + 1]), name: "model(x)",
      marker: { color: s.X.map((_, i) => i), colorscale: "Turbo", size: 5 }, hoverinfo: "skip" });
    layout.xaxis = { autorange: true }; layout.yaxis = { autorange: true, scaleanchor: "x" };
  } else {
    const [ax, ay] = axes(), g = s.grid, z = f32(v.z), rows = [];
    for (let r = 0; r < g; r++) rows.push(Array.from(z.subarray(r * g, (r + 1) * g)));
    let heat;
    if (v.kind === "classes") {
      const k = s.n_classes, scale = [];
      for (let c = 0; c < k; c++) { scale.push([c / k, CLASS_COLORS[c]]); scale.push([(c + 1) / k, CLASS_COLORS[c]]); }
      heat = { type: "heatmap", x: ax, y: ay, z: rows, zmin: -0.5, zmax: k - 0.5, colorscale: scale, opacity: 0.45, showscale: false, hoverinfo: "skip" };
    } else if (s.task === "regression") {
      heat = { type: "heatmap", x: ax, y: ay, z: rows, colorscale: "Viridis", opacity: 0.6, showscale: false, hoverinfo: "skip" };
    } else {
      heat = { type: "heatmap", x: ax, y: ay, z: rows, zmin: 0, zmax: 1, opacity: 0.6, showscale: false, hoverinfo: "skip",
        colorscale: [[0, CLASS_COLORS[0]], [0.5, "#ffffff"], [1, CLASS_COLORS[1]]] };
    }
    traces = [heat, ...pointTraces()];
  }
  Plotly.react("input-view", traces, layout, { displayModeBar: false, staticPlot: false });
}

// Runs kept for comparison: their training-loss curves stay on the plot under the live one.
const COMPARE_MAX = 6;
const COMPARE_COLORS = ["#8e44ad", "#16a085", "#c0392b", "#7f8c8d", "#d35400", "#2c3e50"];
let compared = [];

function runLabel(c) {
  const m = c.model, t = c.train;
  const arch = m.hidden.length ? m.hidden.join("x") + " " + m.activation : "linear";
  const extras = [m.residual ? "residual" : "", m.norm !== "none" ? m.norm + " norm" : ""].filter(Boolean).join(", ");
  return `${c.data.name}, ${arch}${extras ? " (" + extras + ")" : ""}, ${t.optimizer} lr ${t.lr}`;
}

function keepCurve() {
  if (!curve.epoch.length) return;
  compared.push({ label: `#${compared.length + 1} ${runLabel(readConfig())}`, epoch: curve.epoch.slice(), train: curve.train.slice() });
  if (compared.length > COMPARE_MAX) compared.shift();
  $("clear-curves").hidden = false;
  drawLoss();
}

function drawLoss() {
  const traces = compared.map((k, i) => ({ type: "scatter", mode: "lines", x: k.epoch, y: k.train, name: k.label,
    hovertemplate: "epoch %{x}<br>train loss %{y:.8g}<extra>" + k.label + "</extra>",
    line: { color: COMPARE_COLORS[i % COMPARE_COLORS.length], dash: "dot", width: 1.5 } }));
  traces.push({ type: "scatter", mode: "lines", x: curve.epoch, y: curve.train, name: "train",
    hovertemplate: "epoch %{x}<br>train loss %{y:.8g}<extra></extra>", line: { color: "#1f6feb" } });
  if (curve.test.some((v) => v !== null))
    traces.push({ type: "scatter", mode: "lines", x: curve.epoch, y: curve.test, name: "test",
      hovertemplate: "epoch %{x}<br>test loss %{y:.8g}<extra></extra>", line: { color: "#d9822b" } });
  // the legend floats inside the plot (top right, where falling losses leave room) instead of taking its height
  Plotly.react("loss-plot", traces, { datarevision: curve.epoch.length + ":" + curve.epoch[0] + ":" + compared.length, margin: { l: 50, r: 10, t: 10, b: 30 }, yaxis: { type: "log", title: { text: "loss" }, ...logTicks(traces) },
    xaxis: { title: { text: "epoch" } }, legend: { x: 1, xanchor: "right", y: 1, bgcolor: "rgba(255,255,255,0.75)", font: { size: 10 } },
    hovermode: "x" }, { displayModeBar: false });
}

function logTicks(traces) {  // ticks at 1, 2, 5 x 10^k (or powers of ten), each labelled in full: no crowded minor digits
  let lo = Infinity, hi = -Infinity;
  for (const t of traces) for (const v of t.y) if (v > 0) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
  if (!(hi > 0)) return {};
  const a = Math.floor(Math.log10(lo)), b = Math.ceil(Math.log10(hi)), steps = b - a <= 2 ? [1, 2, 5] : [1], vals = [];
  for (let k = a; k <= b; k += Math.max(1, Math.ceil((b - a) / 8))) for (const f of steps) if (f * 10 ** k >= lo / 1.5 && f * 10 ** k <= hi * 1.5) vals.push(f * 10 ** k);
  return { tickvals: vals, ticktext: vals.map((v) => String(Number(v.toPrecision(1)))), minor: { ticks: "" } };
}

function drawRegions(r) {
  const box = $("regions");
  if (!session || !session.regions) { box.textContent = "Linear regions: only for 2-input ReLU / leaky ReLU / identity models."; return; }
  if (!r) { box.textContent = ""; return; }
  if (r.error) { box.textContent = `Linear regions: ${r.error}`; return; }
  const which = r.bound_name;  // the server names the bound proven for this architecture
  box.innerHTML = `Exact linear regions in view: <b data-testid="region-count">${r.count}</b> (${which}: ${r.bound})`;
}

function drawUnits(u) {
  const box = $("units"), size = u.size, z = f32(u.z);
  box.innerHTML = "";
  let idx = 0;
  u.layers.forEach((width, layer) => {  // one row per hidden layer, labelled; each thumbnail names its unit
    const row = document.createElement("div"); row.className = "layer";
    const label = document.createElement("span"); label.textContent = `layer ${layer + 1}`;
    label.style.cssText = "flex-basis:100%;font-size:11px;color:#666"; row.appendChild(label);
    for (let j = 0; j < width && idx < u.count; j++, idx++) {
      const c = document.createElement("canvas"); c.width = size; c.height = size;
      const vals = z.subarray(idx * size * size, (idx + 1) * size * size);
      let lo = Infinity, hi = -Infinity;
      for (const v of vals) { if (v < lo) lo = v; if (v > hi) hi = v; }
      const ctx = c.getContext("2d"), img = ctx.createImageData(size, size);
      for (let r = 0; r < size; r++) for (let q = 0; q < size; q++) {
        const t = hi > lo ? (vals[r * size + q] - lo) / (hi - lo) : 0.5, o = ((size - 1 - r) * size + q) * 4;
        img.data[o] = 255 * t; img.data[o + 1] = 140 + 60 * t; img.data[o + 2] = 255 * (1 - t); img.data[o + 3] = 255;
      }
      ctx.putImageData(img, 0, 0); c.title = `layer ${layer + 1}, unit ${j + 1}: ${lo.toPrecision(3)}..${hi.toPrecision(3)}`;
      c.dataset.unit = `${layer + 1}.${j + 1}`; row.appendChild(c);
    }
    box.appendChild(row);
  });
}

// ---- own data: upload and drawing

async function uploadCsv(file) {
  if (!file) return;
  if (file.size > options.limits.upload_bytes) { showError(`file: expected at most ${options.limits.upload_bytes} bytes, got ${file.size}`); return; }
  const res = await fetch("/api/csv", { method: "POST", headers: { "Content-Type": "text/csv" }, body: await file.text() });
  const out = await res.json().catch(() => ({ error: `server answered ${res.status}` }));
  if (!res.ok) { showError(out.error); return; }
  custom = { task: out.task, X: out.X, y: out.y };
  setLossChoices($("loss_fn").value);
  configure();
}

function addPoint(ev) {
  if (!$("draw").checked || !session || session.d_in !== 2) return;
  const gd = $("input-view"), full = gd._fullLayout;
  if (!full) return;
  const rect = gd.getBoundingClientRect();
  const x = full.xaxis.p2l(ev.clientX - rect.left - full.margin.l), y = full.yaxis.p2l(ev.clientY - rect.top - full.margin.t);
  if (!isFinite(x) || !isFinite(y)) return;
  const label = ev.shiftKey ? 1 : ev.altKey ? 2 : ev.ctrlKey || ev.metaKey ? 3 : 0;
  if (!custom || custom.task === "regression") {
    custom = { task: "binary", X: [], y: [] };
    if (session.task !== "regression") { custom.X = session.X.slice(); custom.y = session.y.slice(); }
  }
  custom.X.push([Number(x.toFixed(4)), Number(y.toFixed(4))]); custom.y.push(label);
  const k = Math.max(...custom.y) + 1;
  custom.task = k > 2 ? "multiclass" : "binary";
  if (new Set(custom.y).size < 2) { session.X = custom.X; session.y = custom.y; drawView(latest || { view: { kind: "none" } }); return; }
  setLossChoices($("loss_fn").value);
  configure();
}

// ---- wiring

async function init() {
  // The controls work from the first moment: clicks before the session is open are queued.
  // What a click means follows what the page shows: Pause while the server says running, else Play.
  $("play").addEventListener("click", () => send(state === "running" && !configuring ? "pause" : "play"));
  $("step").addEventListener("click", () => send("step"));
  $("reset").addEventListener("click", () => { curve = { epoch: [], train: [], test: [] }; kept = []; send("reset"); });
  showState();
  options = await (await fetch("/api/options")).json();
  fill($("dataset"), options.datasets.map((d) => d.name), options.datasets.map((d) => `${d.name} (${d.task}${d.d_in === 1 ? ", 1-D" : ""})`));
  $("dataset").value = "moons";
  options.presets.forEach((p) => { const o = document.createElement("option"); o.value = p.name; o.textContent = p.name; o.title = p.title; $("preset").appendChild(o); });
  fill($("activation"), options.activation); fill($("norm"), options.norm); fill($("init"), options.init); fill($("optimizer"), options.optimizer);
  $("optimizer").value = "adam";
  setLossChoices();
  const fromUrl = readUrl();
  if (fromUrl) applyConfig(fromUrl);

  for (const id of ["noise", "n", "test_fraction", "data_seed", "layers", "width", "activation", "residual", "norm", "init",
                    "optimizer", "batch_size", "weight_decay", "loss_fn", "seed", "stop_epochs", "stop_loss"])
    $(id).addEventListener("change", configure);
  $("dataset").addEventListener("change", () => {
    custom = null; $("preset").value = "";
    const d = options.datasets.find((d) => d.name === $("dataset").value);
    if (d) { $("n").value = d.n; $("noise").value = d.noise; } setLossChoices($("loss_fn").value); configure(); });
  $("lr").addEventListener("change", () => { writeUrl(readConfig()); send("lr", num("lr")); });
  $("preset").addEventListener("change", async () => {
    const name = $("preset").value; if (!name) return;
    const mine = ++configSeq;
    configuring = true; showState();
    const info = await startSession({ preset: name });
    if (mine !== configSeq) { if (info) fetch(`/api/session/${info.id}`, { method: "DELETE" }); return; }
    if (!info) { configuring = false; flush(); showState(); return; }
    const e = info.experiment, d = Object.assign({}, e.data);
    applyConfig({ data: d, model: e.model, train: e.train, stop: { epochs: e.train.epochs } });
    writeUrl(readConfig()); showError(null); connect(info, mine);
  });
  $("csv").addEventListener("change", (ev) => uploadCsv(ev.target.files[0]));
  $("clear-points").addEventListener("click", () => { custom = null; configure(); });
  $("reset").addEventListener("click", () => { lastConfig = null; });
  $("input-view").addEventListener("click", addPoint);
  $("scrubber").addEventListener("input", (ev) => {
    if (state === "running") send("pause");
    render(kept[Number(ev.target.value)], false);
  });
  $("show-snippet").addEventListener("click", async () => {
    if (!session) return;
    const res = await fetch(`/api/session/${session.id}/snippet`);
    $("snippet").textContent = await res.text(); $("snippet").hidden = false;
  });
  $("copy-link").addEventListener("click", () => { if (navigator.clipboard) navigator.clipboard.writeText(location.href); });
  $("keep-curve").addEventListener("click", keepCurve);
  $("clear-curves").addEventListener("click", () => { compared = []; $("clear-curves").hidden = true; drawLoss(); });
  window.addEventListener("beforeunload", () => { if (ws) ws.close(); });
  await configure();
}

init();
