// mlplab playground page: settings -> POST /api/session -> frames over a WebSocket -> plotly views.
// All training happens on the server through mlplab.train; this file only draws and sends commands.
"use strict";

const $ = (id) => document.getElementById(id);
const CLASS_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
const MAX_KEPT_FRAMES = 300;   // replay buffer; every other frame is dropped when full
const MAX_CURVE_POINTS = 100000; // loss curve points kept on the page: one per epoch up to the server's epoch limit
const MAX_URL_POINTS = 300;    // drawn points beyond this are not put in the link

let options = null, session = null, ws = null, latest = null, drawPending = false;
let kept = [], curve = { epoch: [], train: [], test: [] };
// The server owns the state (idle, running, paused, finished, diverged, error, closed); the page
// only shows the newest one it was told. Until a socket is open the page is "connecting", and the
// commands clicked meanwhile wait in `pending`, then go to the session that opens next.
let state = "connecting", stateMessage = "", lastSeq = 0, pending = [], configuring = false;
const STOPPED = ["finished", "diverged", "error", "closed", "disconnected"];
let custom = null;             // {task, X, y, source} from an upload or drawing
let dataFrom = "moons";        // the named data set on screen before the page's own data (a link falls back to it)
let basePreset = null;         // the preset the settings started from (a link's, or the one chosen)
let applying = false;
let lastConfig = null;
let configSeq = 0;             // only the newest settings' session is connected
// Frames received and drawn, and the main thread's time spent drawing them (benchmarks/bench_web.py reads it)
window.mlplabPerf = { received: 0, drawn: 0, ms: 0 };
let hidden = [8, 8];           // per-layer widths, edited by the layer rows
const RAW_FEATURES = ["x1", "x2"];

function f32(b64) {
  const bin = atob(b64), bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return new Float32Array(bytes.buffer);
}

// Unit maps come as bytes 0..255 between each map's own min (lo) and max (hi).
function unitMaps(u) {
  const out = new Float32Array(u.count * u.points);
  if (!u.count) return out;
  const bin = atob(u.z8);
  for (let m = 0; m < u.count; m++) {
    const lo = u.lo[m], step = (u.hi[m] - lo) / 255;
    for (let k = 0, o = m * u.points; k < u.points; k++, o++) out[o] = lo + bin.charCodeAt(o) * step;
  }
  return out;
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

function currentDin() {
  if (custom) return custom.X.length ? custom.X[0].length : 2;
  const d = options.datasets.find((d) => d.name === $("dataset").value);
  return d ? d.d_in : 2;
}

// The input features are of x1 and x2: with 1-D data the page clears them (back to the raw input) and
// greys them out, so the settings it sends are ones the server can train (not a refusal that leaves the old model on).
function fitFeatures() {
  const two = currentDin() === 2;
  document.querySelectorAll("#features input").forEach((c) => { if (!two) c.checked = RAW_FEATURES.includes(c.value); c.disabled = !two; });
  $("features-note").hidden = two;
}

// The data controls name the data being trained: "your data" after an upload or drawn points, with the
// data set's own controls (noise, points, regenerate) disabled, since they do not apply to it.
function showDataSource() {
  const select = $("dataset");
  let opt = select.querySelector("option[value=custom]");
  if (custom) {
    if (!opt) { opt = document.createElement("option"); opt.value = "custom"; select.prepend(opt); }
    opt.textContent = `your data (${custom.source || "your points"}, ${custom.X.length} points)`;
    select.value = "custom";
  } else if (opt) {
    opt.remove(); select.value = dataFrom;
  }
  for (const id of ["noise", "n", "regenerate"]) $(id).disabled = !!custom;
  fitFeatures();
}

function checkedFeatures() {
  return Array.from(document.querySelectorAll("#features input:checked")).map((c) => c.value);
}

function readConfig() {
  const data = custom
    ? { name: "custom", task: custom.task, X: custom.X, y: custom.y, test_fraction: num("test_fraction"), seed: num("data_seed") }
    : { name: $("dataset").value, noise: num("noise"), n: num("n"), test_fraction: num("test_fraction"), seed: num("data_seed") };
  const train = { optimizer: $("optimizer").value, lr: num("lr"), weight_decay: num("weight_decay"), l1: num("l1"),
                  momentum: num("momentum"), loss: $("loss_fn").value, seed: num("seed"), engine: $("engine").value };
  const bs = num("batch_size");
  if (bs) train.batch_size = bs;
  const stop = { epochs: num("stop_epochs") };
  if (num("stop_loss") !== null) stop.loss = num("stop_loss");
  const model = { hidden: hidden.slice(), activation: $("activation").value, residual: $("residual").checked,
                  norm: $("norm").value, init: $("init").value };
  const feats = checkedFeatures();  // x1 and x2 alone are the raw inputs: no features field; 1-D data has none
  if (currentDin() === 2 && !(feats.length === 2 && feats[0] === "x1" && feats[1] === "x2")) model.features = feats;
  // the preset the settings started from carries what the page has no control for (init scales, where the
  // norms sit); the server lays the page's fields over it, so a link's preset survives the round trip
  return basePreset ? { preset: basePreset, data, model, train, stop } : { data, model, train, stop };
}

function setLossChoices(keep) {
  const losses = options.losses[currentTask()];
  fill($("loss_fn"), losses);
  $("loss_fn").value = losses.includes(keep) ? keep : losses[0];
}

function applyConfig(c) {
  applying = true;
  const d = c.data || {}, m = c.model || {}, t = c.train || {}, s = c.stop || {};
  basePreset = typeof c.preset === "string" ? c.preset : null;
  $("preset").value = basePreset || "";
  if (d.name === "custom") custom = { task: d.task, X: d.X, y: d.y, source: "from the link" };
  else { custom = null; if (d.name) $("dataset").value = d.name; dataFrom = $("dataset").value; }
  if (d.name !== "custom") { $("noise").value = d.noise ?? ""; $("n").value = d.n ?? ""; }
  if (d.test_fraction !== undefined) $("test_fraction").value = d.test_fraction;
  if (d.seed !== undefined) $("data_seed").value = d.seed;
  if (m.hidden) { hidden = m.hidden.slice(); $("layers").value = hidden.length; if (hidden.length) $("width").value = hidden[0]; }
  drawWidths();
  const feats = m.features && m.features.length ? m.features : RAW_FEATURES;
  document.querySelectorAll("#features input").forEach((c) => { c.checked = feats.includes(c.value); });
  if (m.activation) $("activation").value = m.activation;
  $("residual").checked = !!m.residual;
  if (m.norm) $("norm").value = m.norm;
  if (m.init) $("init").value = m.init;
  if (t.optimizer) $("optimizer").value = t.optimizer;
  $("engine").value = t.engine || "auto";
  if (t.lr !== undefined) $("lr").value = t.lr;
  $("batch_size").value = t.batch_size || 0;
  if (t.weight_decay !== undefined) $("weight_decay").value = t.weight_decay;
  $("l1").value = t.l1 || 0;
  $("momentum").value = t.momentum || 0;
  if (t.seed !== undefined) $("seed").value = t.seed;
  setLossChoices(t.loss);
  showDataSource();
  if (s.epochs) $("stop_epochs").value = s.epochs;
  $("stop_loss").value = s.loss !== undefined && s.loss !== null ? s.loss : "";
  applying = false;
}

// ---- per-layer widths: one row per hidden layer with - and +; "width of every layer" sets them all

function drawWidths() {
  const box = $("widths"), max = options ? options.limits.width : 128;
  box.innerHTML = "";
  hidden.forEach((w, i) => {
    const row = document.createElement("div"); row.className = "row"; row.dataset.layer = String(i + 1);
    const name = document.createElement("span"); name.textContent = `layer ${i + 1}`;
    const minus = document.createElement("button"); minus.type = "button"; minus.textContent = "\u2212";
    minus.setAttribute("aria-label", `fewer units in layer ${i + 1}`); minus.disabled = w <= 1;
    const plus = document.createElement("button"); plus.type = "button"; plus.textContent = "+";
    plus.setAttribute("aria-label", `more units in layer ${i + 1}`); plus.disabled = w >= max;
    const count = document.createElement("b"); count.textContent = String(w); count.dataset.testid = "width";
    minus.addEventListener("click", () => { hidden[i] = Math.max(1, hidden[i] - 1); widthsChanged(); });
    plus.addEventListener("click", () => { hidden[i] = Math.min(max, hidden[i] + 1); widthsChanged(); });
    row.append(name, minus, count, plus); box.appendChild(row);
  });
  $("remove-layer").disabled = !hidden.length;
  $("add-layer").disabled = options && hidden.length >= options.limits.depth;
}

function widthsChanged() {
  $("layers").value = hidden.length;
  if (hidden.length) $("width").value = hidden[0];
  drawWidths(); configure();
}

function writeUrl(config) {
  const c = JSON.parse(JSON.stringify(config));
  if (c.data.name === "custom" && c.data.X.length > MAX_URL_POINTS) { c.data = { name: dataFrom }; }
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
  $("units").innerHTML = ""; unitsKey = null; netKey = null; $("network").innerHTML = ""; hideWeightTools();  // nothing of the old model stays
  $("notes").hidden = !(info.notes && info.notes.length); $("notes").textContent = (info.notes || []).join("; ");
  fitFeatures();
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
  if (m.type === "state") document.body.dataset.states = String(Number(document.body.dataset.states || 0) + 1);  // for the browser tests
  // training stopped (a Step's end, pause, finish): the curve shows every epoch received, even the last
  // one that came within LOSS_EVERY_MS of the previous redraw while the state still said running
  if (m.type === "state" && m.state !== "running" && curve.epoch.length) { drawLoss(); lossDrawn = performance.now(); }
  if (m.type === "error") { showError(m.error); return; }
  if (m.type === "lr") { $("lr").value = m.lr; lrChanged(m.lr); $("lr").title = lrText(m.lr); return; }
  if (m.type === "weight") { document.body.dataset.weightSet = `${m.layer}:${m.to}:${m.from}:${m.value}`; return; }
  if (m.type === "epoch_losses") { m.loss.forEach((v, i) => { curve.train[curvePoint(m.first + i)] = v; }); thinCurve(); return; }
  if (m.type !== "frame") return;
  if (m.epoch === 0 && curve.epoch.length) { curve = { epoch: [], train: [], test: [] }; kept = []; }
  if (m.epoch === 0 && m.lr !== undefined) lrSteps = [{ epoch: 0, lr: m.lr }];
  const at = curvePoint(m.epoch);  // the model as it is now; the next epoch_losses message replaces it by the epoch's own
  curve.train[at] = m.loss; curve.test[at] = m.test_loss === undefined ? null : m.test_loss;
  thinCurve();
  if (!m.units && latest && latest.units) m.units = latest.units;
  if (!m.regions && latest && latest.regions) m.regions = latest.regions;
  kept.push(m);
  if (kept.length > MAX_KEPT_FRAMES) kept = kept.filter((_, i) => i % 2 === 0 || i === kept.length - 1);
  latest = m;
  const sc = $("scrubber"); sc.max = kept.length - 1; sc.value = kept.length - 1;
  window.mlplabPerf.received++;
  if (!drawPending) {
    drawPending = true;
    requestAnimationFrame(() => {
      drawPending = false;
      const t0 = performance.now();
      render(latest, true);
      window.mlplabPerf.drawn++; window.mlplabPerf.ms += performance.now() - t0;
    });
  }
}

// The loss curve: one point per epoch, in epoch order. Epochs between two frames come in epoch_losses
// messages (each epoch's mean training loss, at the epoch it began); a frame adds the model's loss as it
// is now, and its test loss (test points only at frames: the line joins them).
function curvePoint(e) {
  let i = curve.epoch.length;
  while (i > 0 && curve.epoch[i - 1] > e) i--;
  if (i > 0 && curve.epoch[i - 1] === e) return i - 1;
  curve.epoch.splice(i, 0, e); curve.train.splice(i, 0, null); curve.test.splice(i, 0, null);
  return i;
}

function thinCurve() {
  if (curve.epoch.length > MAX_CURVE_POINTS) for (const k of ["epoch", "train", "test"]) curve[k] = curve[k].filter((_, i) => i % 2 === 0);
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

const LOSS_EVERY_MS = 200;  // the loss curve needs no 30 redraws a second; the numbers above it show every frame
let lossDrawn = 0, lossCost = 0;  // a curve of many epochs costs more to draw: then it is redrawn less often
const lossEvery = () => Math.max(LOSS_EVERY_MS, 3 * lossCost);

function fmt(v) { return v === null || v === undefined ? "-" : Number(v).toPrecision(5); }

function render(f, live) {
  if (!f || !session) return;
  $("epoch").textContent = f.epoch;
  $("loss").textContent = fmt(f.loss);
  $("test-loss").textContent = fmt(f.test_loss);
  $("metric").textContent = fmt(f.metric);
  $("scrub-label").textContent = `epoch ${f.epoch}`;
  drawView(f);
  if (live && (state !== "running" || performance.now() - lossDrawn > lossEvery())) { drawLoss(); lossDrawn = performance.now(); }
  drawRegions(f.regions);
  if (f.units && f.units.z8 !== undefined) drawUnits(f.units);
  if (f.health) drawHealth(f.health);
  drawNetwork(f);
}

// ---- layer health: the gradient reaching each layer, and how its units are doing (dead ReLUs)
function drawHealth(rows) {
  // short headers (titled in full) and short numbers (1.23e-5, not 0.0000123): the six columns fit the 360px column
  const short = (v, d) => v !== 0 && Math.abs(v) < 1e-3 ? v.toExponential(d - 1).replace("e-", "e\u2212") : v.toPrecision(d);
  const table = $("health"), num = (v, d = 3) => (v === null || v === undefined) ? "–" : short(Number(v), d);
  const head = "<tr><th>layer</th><th>kind</th><th title=\"norm of the loss gradient reaching the layer's weights\">|grad|</th>" +
    "<th title=\"norm of the layer's weights\">|W|</th><th title=\"the units' mean activation \u00b1 its spread over the data\">act. mean \u00b1 sd</th>" +
    "<th title=\"the share of units never active on the training data\">dead</th></tr>";
  table.innerHTML = head + rows.map(r => `<tr data-layer="${r.layer}"><td>${r.layer}</td><td>${r.kind}</td>` +
    `<td>${num(r.grad_norm)}</td><td>${num(r.weight_norm)}</td>` +
    `<td>${r.act_mean === undefined ? "–" : num(r.act_mean) + " ± " + num(r.act_std)}</td>` +
    `<td>${r.dead_fraction === undefined || r.dead_fraction === null ? "–" : Math.round(100 * r.dead_fraction) + "%"}</td></tr>`).join("");
}

// The data as legend entries: one per class (train filled, test open), or train / test for regression,
// whose targets share one colour bar with the model's background (`targetRange`).
function pointTraces() {
  const s = session, traces = [], showTest = $("show_test").checked && s.X_test && s.X_test.length;
  if (s.task === "regression") {
    const [lo, hi] = targetRange();
    const add = (X, y, test) => traces.push({ type: "scatter", mode: "markers", x: X.map((p) => p[0]),
      y: s.d_in === 1 ? y.map((v) => v[0]) : X.map((p) => p[1]), name: test ? "test" : "train", hoverinfo: "skip",
      marker: s.d_in === 1 ? { color: test ? "#999" : "#222", size: 7 } :
        { color: y.map((v) => v[0]), colorscale: "Viridis", cmin: lo, cmax: hi, size: test ? 6 : 5, line: { width: test ? 1.5 : 0, color: "#000" },
          showscale: !test, colorbar: { title: { text: "y", side: "right" }, thickness: 12, len: 0.9 } } });
    add(s.X, s.y, false);
    if (showTest) add(s.X_test, s.y_test, true);
    return traces;
  }
  const classes = Array.from({ length: Math.max(s.n_classes || 2, 2) }, (_, k) => k);
  const add = (X, y, k, test) => {
    const idx = y.map((c, i) => c === k ? i : -1).filter((i) => i >= 0);
    traces.push({ type: "scatter", mode: "markers", x: idx.map((i) => X[i][0]), y: idx.map((i) => X[i][1]),
      name: `class ${k}`, legendgroup: `class ${k}`, showlegend: !test, hoverinfo: "skip",
      marker: { color: CLASS_COLORS[k % 10], size: 6, symbol: test ? "circle-open" : "circle", line: { width: test ? 1.5 : 1, color: test ? undefined : "#fff" } } });
  };
  for (const k of classes) add(s.X, s.y, k, false);
  if (showTest) {
    for (const k of classes) add(s.X_test, s.y_test, k, true);
    traces.push({ type: "scatter", mode: "markers", x: [null], y: [null], name: "test (open)", hoverinfo: "skip",
      marker: { color: "#555", size: 6, symbol: "circle-open", line: { width: 1.5 } } });
  }
  if (s.task === "binary") {  // the background's scale: P(class 1), blended over white as paintHeat paints it
    const rgb = (c) => `rgb(${c.map(Math.round).join(",")})`;
    traces.push({ type: "scatter", mode: "markers", x: [null], y: [null], showlegend: false, hoverinfo: "skip",
      marker: { color: [0, 1], cmin: 0, cmax: 1, showscale: true, colorbar: { title: { text: "model: P(class 1)", side: "right" }, thickness: 12, len: 0.9, tickvals: [0, 0.25, 0.5, 0.75, 1] },
        colorscale: [[0, rgb(heatColor(0, "prob"))], [0.5, rgb(heatColor(0.5, "prob"))], [1, rgb(heatColor(1, "prob"))]] } });
  }
  return traces;
}

function targetRange() {  // regression: the targets' range, one colour scale for the points and the model's background
  const s = session;
  if (!s.yRange) {
    let lo = Infinity, hi = -Infinity;
    for (const v of s.y.concat(s.y_test || [])) { lo = Math.min(lo, v[0]); hi = Math.max(hi, v[0]); }
    s.yRange = hi > lo ? [lo, hi] : [lo - 1, hi + 1];
  }
  return s.yRange;
}

// One sentence under the view: what it draws, for the kind of data on screen.
const VIEW_NOTES = {
  boundary: "Background: the model's probability of class 1 at each point of the plane (colour bar). Dots: the data, by class; filled: training, open: test.",
  classes: "Background: the class the model predicts at each point of the plane, in the legend's colours (lighter). Dots: the data, by class; filled: training, open: test.",
  heatmap: "Background: the model's output at each point of the plane, on the colour bar's scale (lighter). Dots: the data, coloured by their target y; outlined: test.",
  curve: "Dots: the data (x, y), black for training, grey for test. Red line: the model's output across the input range.",
  mapping: "2-D \u2192 2-D: this is the output plane. Grey dots: the targets y. Coloured dots: the model's predictions for the same inputs, coloured by their order in the data set. Grey lines: a grid over the input box, carried through the model.",
};

function viewNote(v) {
  const kind = v.kind === "heatmap" && session.task !== "regression" ? "boundary" : v.kind;
  $("view-note").textContent = VIEW_NOTES[kind] || "";
}

function drawView(f) {
  const s = session, v = f.view, layout = { margin: { l: 40, r: 10, t: 30, b: 30 }, showlegend: true,
    legend: { orientation: "h", x: 0, xanchor: "left", y: 1.01, yanchor: "bottom", font: { size: 11 } },
    xaxis: { range: s.box[0] }, yaxis: { range: s.d_in === 2 ? s.box[1] : undefined } };
  viewNote(v);
  let traces = [];
  if (v.kind === "curve") {
    traces = pointTraces();
    traces.push({ type: "scatter", mode: "lines", x: s.curve_x, y: Array.from(f32(v.y)), name: "model", line: { color: "#d62728" } });
  } else if (v.kind === "mapping") {
    const pred = f32(v.pred), lines = f32(v.lines), n = s.X.length;
    const lx = [], ly = [];
    for (let i = 0; i < lines.length / 2; i++) { lx.push(lines[2 * i]); ly.push(lines[2 * i + 1]); if (i % 40 === 39) { lx.push(null); ly.push(null); } }
    traces.push({ type: "scatter", mode: "lines", x: lx, y: ly, line: { color: "rgba(90,90,90,0.35)", width: 1 }, hoverinfo: "skip", name: "input grid, mapped" });
    traces.push({ type: "scatter", mode: "markers", x: s.y.map((p) => p[0]), y: s.y.map((p) => p[1]), name: "targets y",
      marker: { color: "rgba(0,0,0,0.25)", size: 6 }, hoverinfo: "skip" });
    traces.push({ type: "scatter", mode: "markers", x: Array.from({ length: n }, (_, i) => pred[2 * i]),
      y: Array.from({ length: n }, (_, i) => pred[2 * i + 1]), name: "predictions",
      marker: { color: s.X.map((_, i) => i), colorscale: "Turbo", size: 5 }, hoverinfo: "skip" });
    layout.xaxis = { autorange: true }; layout.yaxis = { autorange: true, scaleanchor: "x" };
  } else {
    // The heatmap is painted on a canvas under plotly's transparent plot area: plotly redraws only when
    // the points or axes change, so a frame costs one putImageData (see docs/benchmarks.md, web-diagram).
    const key = [s.id, s.X.length, $("show_test").checked, v.kind].join("/");
    if (key !== viewKey || !$("heat-clip")) {
      viewKey = key;
      layout.paper_bgcolor = layout.plot_bgcolor = "rgba(0,0,0,0)";
      Object.assign(layout.xaxis, { showgrid: false, zeroline: false }); Object.assign(layout.yaxis, { showgrid: false, zeroline: false });
      Plotly.react("input-view", pointTraces(), layout, { displayModeBar: false, staticPlot: false });
    }
    paintHeat(v);
    return;
  }
  viewKey = null;
  const clip = $("heat-clip"); if (clip) clip.remove();
  Plotly.react("input-view", traces, layout, { displayModeBar: false, staticPlot: false });
}

let viewKey = null;
const hexRgb = (h) => [1, 3, 5].map((i) => parseInt(h.slice(i, i + 2), 16));
const VIRIDIS = ["#440154", "#3b528b", "#21918c", "#5ec962", "#fde725"].map(hexRgb);
const WHITE = [255, 255, 255];
const mix = (a, b, t) => [0, 1, 2].map((k) => a[k] + (b[k] - a[k]) * t);

function heatColor(v, kind, lo, hi) {  // [r, g, b] over white, as the plot used to blend it; kind "prob": a P(class 1)
  let c, alpha = 0.6;
  if (kind === "classes") { c = hexRgb(CLASS_COLORS[v | 0] || CLASS_COLORS[0]); alpha = 0.45; }
  else if (kind !== "prob" && session.task === "regression") {
    const t = hi > lo ? Math.min(1, Math.max(0, (v - lo) / (hi - lo))) * 4 : 2, k = Math.min(3, Math.floor(t));
    c = mix(VIRIDIS[k], VIRIDIS[k + 1], t - k);
  } else {
    const t = Math.min(1, Math.max(0, v));
    c = t < 0.5 ? mix(hexRgb(CLASS_COLORS[0]), WHITE, t / 0.5) : mix(WHITE, hexRgb(CLASS_COLORS[1]), (t - 0.5) / 0.5);
  }
  return mix(WHITE, c, alpha);
}

function paintHeat(v) {
  const gd = $("input-view"), full = gd._fullLayout, s = session, g = s.grid;
  let clip = $("heat-clip");
  if (!clip) {
    clip = document.createElement("div"); clip.id = "heat-clip"; clip.className = "heat-clip";
    const c = document.createElement("canvas"); c.id = "heat"; c.dataset.testid = "heatmap"; clip.appendChild(c);
    gd.prepend(clip);
  }
  const xa = full.xaxis, ya = full.yaxis, c = $("heat");
  clip.style.left = `${xa._offset}px`; clip.style.top = `${ya._offset}px`;
  clip.style.width = `${xa._length}px`; clip.style.height = `${ya._length}px`;
  // grid points sit on the box's edges: each cell is centred on its point, half a cell beyond the box
  const cw = xa._length / (g - 1), ch = ya._length / (g - 1);
  c.style.left = `${-cw / 2}px`; c.style.top = `${-ch / 2}px`; c.style.width = `${cw * g}px`; c.style.height = `${ch * g}px`;
  if (c.width !== g) { c.width = g; c.height = g; }
  const z = f32(v.z), disc = $("discretize").checked && s.task === "binary";
  const [lo, hi] = s.task === "regression" ? targetRange() : [0, 1];  // the colour bar's range
  // 256 colours looked up by value (classes by index): no colour is computed per pixel
  const classes = v.kind === "classes", n = classes ? s.n_classes : 256, lut = new Uint8ClampedArray(n * 3);
  for (let k = 0; k < n; k++) {
    const x = classes ? k : s.task === "regression" ? lo + (hi - lo) * k / 255 : k / 255;
    lut.set(heatColor(x, v.kind, lo, hi), 3 * k);
  }
  const span = s.task === "regression" ? (hi > lo ? hi - lo : 1) : 1, base = s.task === "regression" ? lo : 0;
  const ctx = c.getContext("2d"), img = ctx.createImageData(g, g), px = img.data;
  for (let r = 0; r < g; r++) for (let q = 0; q < g; q++) {
    let x = z[r * g + q];
    if (disc) x = x >= 0.5 ? 1 : 0;
    const k = classes ? x | 0 : Math.min(255, Math.max(0, Math.round((x - base) / span * 255)));
    const o = ((g - 1 - r) * g + q) * 4;
    px[o] = lut[3 * k]; px[o + 1] = lut[3 * k + 1]; px[o + 2] = lut[3 * k + 2]; px[o + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
}

// Runs kept for comparison: their training-loss curves stay on the plot under the live one.
const COMPARE_MAX = 6;
const COMPARE_COLORS = ["#8e44ad", "#16a085", "#c0392b", "#7f8c8d", "#d35400", "#2c3e50"];
let compared = [];

// The learning rates of the run on screen, as it trained: [{epoch, lr}], the first from epoch 0. A rate changed
// while training is in force from that epoch on; labels and the link say each, not only the latest.
let lrSteps = [];

function lrText(lr) {
  if (lrSteps.length < 2) return `lr ${lr}`;
  return "lr " + lrSteps.map((s, i) => (i ? `${s.lr} from epoch ${s.epoch}` : `${s.lr}`)).join(", ");
}

function lrChanged(lr) {
  const epoch = curve.epoch.length ? curve.epoch[curve.epoch.length - 1] : 0;
  if (!lrSteps.length || epoch === 0) lrSteps = [{ epoch: 0, lr }];
  else if (lrSteps[lrSteps.length - 1].lr !== lr) lrSteps.push({ epoch, lr });
}

function startConfig() {  // the settings the run on screen started with (the link reproduces its start)
  const c = readConfig();
  const trained = curve.epoch.length && curve.epoch[curve.epoch.length - 1] > 0;
  if (lrSteps.length && trained) c.train.lr = lrSteps[0].lr;
  return c;
}

function runLabel(c) {
  const m = c.model, t = c.train;
  const arch = m.hidden.length ? m.hidden.join("x") + " " + m.activation : "linear";
  const extras = [m.residual ? "residual" : "", m.norm !== "none" ? m.norm + " norm" : ""].filter(Boolean).join(", ");
  return `${c.data.name}, ${arch}${extras ? " (" + extras + ")" : ""}, ${t.optimizer} ${lrText(t.lr)}`;
}

function keepCurve() {
  if (!curve.epoch.length) return;
  compared.push({ label: `#${compared.length + 1} ${runLabel(readConfig())}`, epoch: curve.epoch.slice(), train: curve.train.slice() });
  if (compared.length > COMPARE_MAX) compared.shift();
  $("clear-curves").hidden = false;
  drawLoss();
}

function drawLoss() {
  const t0 = performance.now();
  const traces = compared.map((k, i) => ({ type: "scatter", mode: "lines", x: k.epoch, y: k.train, name: k.label,
    hovertemplate: "epoch %{x}<br>train loss %{y:.8g}<extra>" + k.label + "</extra>",
    line: { color: COMPARE_COLORS[i % COMPARE_COLORS.length], dash: "dot", width: 1.5 } }));
  // a single point (epoch 0) has no line to draw: it is shown as a marker until the next epoch comes
  const mode = (ys) => ys.filter((v) => v !== null).length > 1 ? "lines" : "markers";
  traces.push({ type: "scatter", mode: mode(curve.train), x: curve.epoch, y: curve.train, name: "train", connectgaps: true,
    hovertemplate: "epoch %{x}<br>train loss %{y:.8g}<extra></extra>", line: { color: "#1f6feb" }, marker: { color: "#1f6feb" } });
  if (curve.test.some((v) => v !== null))
    traces.push({ type: "scatter", mode: mode(curve.test), x: curve.epoch, y: curve.test, name: "test", connectgaps: true,
      hovertemplate: "epoch %{x}<br>test loss %{y:.8g}<extra></extra>", line: { color: "#d9822b" }, marker: { color: "#d9822b" } });
  // the legend floats inside the plot (top right, where falling losses leave room) instead of taking its height
  Plotly.react("loss-plot", traces, { datarevision: curve.epoch.length + ":" + curve.epoch[0] + ":" + compared.length, margin: { l: 56, r: 10, t: 10, b: 40 }, yaxis: { type: "log", title: { text: "loss" }, ...logTicks(traces) },
    xaxis: { title: { text: "epoch" }, ...epochTicks(traces) }, legend: { x: 1, xanchor: "right", y: 1, bgcolor: "rgba(255,255,255,0.75)", font: { size: 10 } },
    hovermode: "x" }, { displayModeBar: false });
  lossCost = performance.now() - t0;
}

function epochTicks(traces) {  // epochs from 0: whole numbers only, never a negative or fractional epoch (epoch 0 alone included)
  let last = 0;
  for (const t of traces) if (t.x.length) last = Math.max(last, t.x[t.x.length - 1]);
  const range = [0, Math.max(1, last)];
  if (last > 10) return { range, tickformat: "d" };
  const step = range[1] <= 5 ? 1 : 2, vals = Array.from({ length: Math.floor(range[1] / step) + 1 }, (_, i) => i * step);
  return { range, tickvals: vals, ticktext: vals.map(String) };
}

// a loss label in full down to 0.001, then as a power of ten (1e-6, not 0.000001): short labels clear the axis title
const tickText = (v) => { const t = Number(v.toPrecision(6)); return t < 1e-3 ? t.toExponential() : String(t); };

function logTicks(traces) {  // ticks at 1, 2, 5 x 10^k (or powers of ten), each labelled in full: no crowded minor digits
  let lo = Infinity, hi = -Infinity;
  for (const t of traces) for (const v of t.y) if (v > 0) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
  if (!(hi > 0)) return {};
  const a = Math.floor(Math.log10(lo)), b = Math.ceil(Math.log10(hi)), steps = b - a <= 2 ? [1, 2, 5] : [1];
  let vals = [];
  for (let k = a; k <= b; k += Math.max(1, Math.ceil((b - a) / 8))) for (const f of steps) if (f * 10 ** k >= lo / 1.5 && f * 10 ** k <= hi * 1.5) vals.push(f * 10 ** k);
  if (vals.filter((v) => v >= lo && v <= hi).length < 2) {
    // the losses span less than one 1-2-5 step (the first epochs, a plateau): evenly spaced round values
    // across them instead, or the axis would show no label at all
    const span = Math.max(hi - lo, hi * 0.02), m = 10 ** Math.floor(Math.log10(span / 4)), r = span / 4 / m;
    const step = (r < 1.5 ? 1 : r < 3.5 ? 2 : r < 7.5 ? 5 : 10) * m;
    vals = [];
    let k0 = Math.floor(lo / step), k1 = Math.ceil(hi / step);
    if (k1 - k0 < 2) { k0 -= 1; k1 += 1; }  // one loss, or a flat run: a label either side of it
    for (let k = k0; k <= k1; k++) if (k > 0) vals.push(k * step);
    // and the axis spans those values (log axis: the range is in decades), so they spread over its height even
    // when there is one loss (epoch 0), where plotly's own range would be a decade or two wide
    return { tickvals: vals, ticktext: vals.map(tickText), minor: { ticks: "" }, range: [Math.log10(vals[0]), Math.log10(vals[vals.length - 1])] };
  }
  return { tickvals: vals, ticktext: vals.map(tickText), minor: { ticks: "" } };
}

function drawRegions(r) {
  const box = $("regions");
  if (!session || !session.regions) { box.textContent = `Linear regions not drawn: ${session && session.regions_reason || "only for 2-input ReLU / leaky ReLU / identity models"}.`; return; }
  if (!r) { box.textContent = ""; return; }
  if (r.error) { box.textContent = `Linear regions: ${r.error}`; return; }
  const which = r.bound_name;  // the server names the bound proven for this architecture
  box.innerHTML = `Exact linear regions in view: <b data-testid="region-count">${r.count}</b> (${which}: ${r.bound})`;
}

// One node's map over the input plane (a size x size image), or over the input line (a curve).
function drawMap(c, vals, u, discrete) {
  let lo = Infinity, hi = -Infinity;
  for (const v of vals) { if (v < lo) lo = v; if (v > hi) hi = v; }
  const ctx = c.getContext("2d");
  if (u.dim === 1) {
    if (c.width !== 48 || c.height !== 24) { c.width = 48; c.height = 24; }  // resizing clears and costs: only once
    ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, 48, 24); ctx.strokeStyle = "#d62728"; ctx.lineWidth = 1.5; ctx.beginPath();
    vals.forEach((v, i) => { const x = 48 * i / (vals.length - 1), y = 22 - 20 * (hi > lo ? (v - lo) / (hi - lo) : 0.5);
      if (i) ctx.lineTo(x, y); else ctx.moveTo(x, y); });
    ctx.stroke();
  } else {
    const size = u.size;
    if (c.width !== size || c.height !== size) { c.width = size; c.height = size; }
    const img = ctx.createImageData(size, size);
    for (let r = 0; r < size; r++) for (let q = 0; q < size; q++) {
      let t = hi > lo ? (vals[r * size + q] - lo) / (hi - lo) : 0.5;
      if (discrete) t = vals[r * size + q] >= 0.5 ? 1 : 0;
      const o = ((size - 1 - r) * size + q) * 4;
      img.data[o] = 255 * t; img.data[o + 1] = 140 + 60 * t; img.data[o + 2] = 255 * (1 - t); img.data[o + 3] = 255;
    }
    ctx.putImageData(img, 0, 0);
  }
  return [lo, hi];
}

let unitsKey = null;

function drawUnits(u) {
  const box = $("units"), per = u.points, z = unitMaps(u), key = [u.layers, u.totals, u.dim].join("/");
  if (key === unitsKey && box.firstChild) {  // the same model: redraw the thumbnails in place
    box.querySelectorAll("canvas").forEach((c, idx) => {
      const [lo, hi] = drawMap(c, z.subarray(idx * per, (idx + 1) * per), u, false);
      c.title = `layer ${c.dataset.unit.split(".")[0]}, unit ${c.dataset.unit.split(".")[1]}: ${lo.toPrecision(3)}..${hi.toPrecision(3)}`;
    });
    return;
  }
  unitsKey = key;
  box.innerHTML = "";
  if (!u.count) { box.textContent = "This model has no hidden units."; return; }
  let idx = 0;
  u.layers.forEach((width, layer) => {  // one row per hidden layer, labelled; each thumbnail names its unit
    const row = document.createElement("div"); row.className = "layer";
    const label = document.createElement("span");
    label.textContent = `layer ${layer + 1}` + (u.totals[layer] > width ? ` (first ${width} of ${u.totals[layer]} units)` : "");
    label.style.cssText = "flex-basis:100%;font-size:11px;color:#666"; row.appendChild(label);
    for (let j = 0; j < width; j++, idx++) {
      const c = document.createElement("canvas");
      const [lo, hi] = drawMap(c, z.subarray(idx * per, (idx + 1) * per), u, false);
      if (u.dim === 1) c.style.width = "60px";
      c.title = `layer ${layer + 1}, unit ${j + 1}: ${lo.toPrecision(3)}..${hi.toPrecision(3)}`;
      c.dataset.unit = `${layer + 1}.${j + 1}`; row.appendChild(c);
    }
    box.appendChild(row);
  });
}

// ---- the network diagram: inputs, hidden units and outputs as nodes (each with its map), links
// coloured by sign and as thick as |weight|. Built once per architecture; each frame restyles links.

const NODE = 26, GAP = 6;
const svgNS = () => $("network").namespaceURI;  // the SVG namespace, read from the page's own <svg>
let netKey = null, netLinks = [], netWeights = null, netNodes = [], editing = null;

function linkStyle(line, w) {
  line.setAttribute("stroke", w >= 0 ? "#e07b00" : "#1f6feb");
  line.setAttribute("stroke-width", Math.min(7, 0.4 + 2.5 * Math.abs(w)).toFixed(2));
  line.dataset.weight = String(w);
}

let netNames = null;  // residual diagrams name their columns (s0: the stem's stream, b1: block 1's inner units, ...)

function nodeName(layer, i, n) {
  if (layer === 0) return session.inputs[i] || `x${i + 1}`;
  if (layer === n - 1) return session.d_out === 1 && session.task !== "multiclass" ? "out" : `out${i + 1}`;
  return netNames ? `${netNames[layer]}.${i + 1}` : `h${layer}.${i + 1}`;
}


function buildNetwork(net) {
  const svg = $("network"), cols = net.sizes.length, tall = Math.max(...net.shown);
  const width = Math.max(svg.parentElement.clientWidth - 4, 90 * (cols - 1) + 60), height = 24 + tall * (NODE + GAP) + 16;
  svg.innerHTML = ""; svg.setAttribute("width", width); svg.setAttribute("height", height);
  const x = (c) => 56 + (width - 100) * c / (cols - 1), y = (c, i) => 12 + (tall - net.shown[c]) * (NODE + GAP) / 2 + i * (NODE + GAP) + NODE / 2;
  const links = document.createElementNS(svgNS(), "g"); svg.appendChild(links);
  netLinks = []; netNames = net.names || null;
  for (const g of net.groups) {  // a plain MLP's consecutive layers, or a residual MLP's blocks and skips
    const a = g.from, b = g.to;
    if (g.skip) {  // identity: unit i of the stream goes on to unit i after the block, arching over it
      for (let i = 0; i < Math.min(net.shown[a], net.shown[b]); i++) {
        const path = document.createElementNS(svgNS(), "path"), x1 = x(a) + NODE / 2, x2 = x(b) - NODE / 2;
        path.setAttribute("d", `M ${x1} ${y(a, i)} Q ${(x1 + x2) / 2} ${y(a, i) - NODE} ${x2} ${y(b, i)}`);
        path.setAttribute("class", "skip"); path.setAttribute("fill", "none"); path.setAttribute("stroke", "#888");
        path.setAttribute("stroke-dasharray", "3 3"); path.dataset.from = a; path.dataset.to = b;
        links.appendChild(path);
      }
      continue;
    }
    for (let i = 0; i < net.shown[b]; i++)
      for (let j = 0; j < net.shown[a]; j++) {
        const line = document.createElementNS(svgNS(), "line");
        line.setAttribute("x1", x(a) + NODE / 2); line.setAttribute("y1", y(a, j));
        line.setAttribute("x2", x(b) - NODE / 2); line.setAttribute("y2", y(b, i));
        line.dataset.layer = g.layer; line.dataset.to = i; line.dataset.from = j;
        line.dataset.name = `${nodeName(a, j, cols)} \u2192 ${nodeName(b, i, cols)}`;
        links.appendChild(line); netLinks.push(line);
      }
  }
  netNodes = [];
  for (let c = 0; c < cols; c++) {
    const column = [];
    for (let i = 0; i < net.shown[c]; i++) {
      const fo = document.createElementNS(svgNS(), "foreignObject");
      fo.setAttribute("x", x(c) - NODE / 2); fo.setAttribute("y", y(c, i) - NODE / 2); fo.setAttribute("width", NODE); fo.setAttribute("height", NODE);
      const cv = document.createElement("canvas"); cv.style.cssText = `width:${NODE}px;height:${NODE}px;border:1px solid #999;display:block;background:#fff`;
      cv.title = nodeName(c, i, cols); fo.appendChild(cv); svg.appendChild(fo); column.push(cv);
      if (c === 0 || c === cols - 1) {
        const t = document.createElementNS(svgNS(), "text"); t.textContent = nodeName(c, i, cols);
        t.setAttribute("x", c === 0 ? x(c) - NODE / 2 - 2 : x(c) + NODE / 2 + 2); t.setAttribute("y", y(c, i) + 3);
        t.setAttribute("text-anchor", c === 0 ? "end" : "start"); svg.appendChild(t);
      }
    }
    if (net.sizes[c] > net.shown[c]) {
      const t = document.createElementNS(svgNS(), "text"); t.textContent = `+${net.sizes[c] - net.shown[c]} more`;
      t.setAttribute("x", x(c)); t.setAttribute("y", height - 4); t.setAttribute("text-anchor", "middle"); svg.appendChild(t);
    }
    netNodes.push(column);
  }
  netWeights = null;
  const cut = net.sizes.map((n, c) => [c, n, net.shown[c]]).filter(([, n, k]) => n > k);
  const colName = (c) => c === 0 ? "inputs" : netNames ? netNames[c] : "layer " + c;
  $("network-note").textContent = (cut.length
    ? `Too many units to draw: each layer shows its first ${session.diagram_units} units and their links (` +
      cut.map(([c, n, k]) => `${colName(c)}: ${k} of ${n}`).join(", ") + "); the others train as well but are not drawn."
    : "Hover a link for its weight; click it to type a new one (training goes on from there).") +
    (netNames ? " Residual: s columns are the stream each block reads, b columns a block's inner units; dashed arcs are the skips (identity)." : "");
}

function drawNetwork(f) {
  const net = f.net;
  if (!net) {
    if (netKey !== "none") { netKey = "none"; $("network").innerHTML = ""; $("network-note").textContent = "No diagram for this model."; }
    return;
  }
  const key = net.sizes.join(",") + "/" + net.shown.join(",") + "/" + (net.names || []).join(",");
  if (key !== netKey) { buildNetwork(net); netKey = key; }
  const w = [];
  for (const g of net.groups) { if (g.skip) continue; const a = f32(g.w); for (let k = 0; k < a.length; k++) w.push(a[k]); }
  for (let k = 0; k < netLinks.length; k++) if (!netWeights || netWeights[k] !== w[k]) linkStyle(netLinks[k], w[k]);
  netWeights = w;
  const u = f.units;
  if (u && u.z8 !== undefined) {
    const per = u.points, hz = unitMaps(u), inputs = f32(u.inputs), outs = f32(u.outputs), cols = netNodes.length;
    const disc = $("discretize").checked && session.task === "binary";
    netNodes[0].forEach((cv, i) => drawMap(cv, inputs.subarray(i * per, (i + 1) * per), u, false));
    // hidden columns in order: a plain MLP's layers, or a residual MLP's streams (s) and blocks' inner units (b)
    const streams = u.streams ? unitMaps(u.streams) : null;
    let idx = 0, layer = 0, sIdx = 0, sLayer = 0;
    for (let c = 1; c < cols - 1; c++) {
      const fromStream = streams && netNames && netNames[c].startsWith("s");
      const shown = fromStream ? (u.streams.layers[sLayer++] || 0) : (u.layers[layer++] || 0);
      const src = fromStream ? streams : hz, at = fromStream ? sIdx : idx;
      netNodes[c].forEach((cv, i) => { if (i < shown) drawMap(cv, src.subarray((at + i) * per, (at + i + 1) * per), u, false); });
      if (fromStream) sIdx += shown; else idx += shown;
    }
    netNodes[cols - 1].forEach((cv, i) => drawMap(cv, outs.subarray(i * per, (i + 1) * per), u, disc));
  }
}

function hideWeightTools() { $("link-tip").hidden = true; $("weight-editor").hidden = true; editing = null; }

function wireNetwork() {
  const svg = $("network"), tip = $("link-tip");
  svg.addEventListener("mouseover", (ev) => {
    const line = ev.target.closest("line"); if (!line) return;
    tip.textContent = `${line.dataset.name}: weight ${Number(line.dataset.weight).toPrecision(4)}`;
    tip.style.left = `${ev.clientX + 12}px`; tip.style.top = `${ev.clientY + 12}px`; tip.hidden = false;
  });
  svg.addEventListener("mouseout", (ev) => { if (ev.target.closest("line")) tip.hidden = true; });
  svg.addEventListener("click", (ev) => {
    const line = ev.target.closest("line"); if (!line) return;
    editing = { layer: Number(line.dataset.layer), to: Number(line.dataset.to), from: Number(line.dataset.from) };
    $("weight-which").textContent = line.dataset.name;
    $("weight-value").value = line.dataset.weight;
    const ed = $("weight-editor"); ed.style.left = `${ev.clientX + 12}px`; ed.style.top = `${ev.clientY + 12}px`; ed.hidden = false;
    tip.hidden = true; $("weight-value").focus(); $("weight-value").select();
  });
  $("weight-editor").addEventListener("submit", (ev) => {
    ev.preventDefault(); if (!editing) return;
    const text = $("weight-value").value.trim(), value = text === "" ? null : Number(text);
    // the server checks it (a finite number within the limit) and answers a bad one by name
    pending.push(JSON.stringify({ cmd: "weight", ...editing, value: Number.isFinite(value) ? value : text }));
    flush(); hideWeightTools();
  });
  $("weight-cancel").addEventListener("click", hideWeightTools);
}

// ---- own data: upload and drawing

async function uploadCsv(file) {
  if (!file) return;
  if (file.size > options.limits.upload_bytes) { showError(`file: expected at most ${options.limits.upload_bytes} bytes, got ${file.size}`); return; }
  const res = await fetch("/api/csv", { method: "POST", headers: { "Content-Type": "text/csv" }, body: await file.text() });
  const out = await res.json().catch(() => ({ error: `server answered ${res.status}` }));
  if (!res.ok) { showError(out.error); return; }
  if (!custom) dataFrom = $("dataset").value;
  custom = { task: out.task, X: out.X, y: out.y, source: file.name };
  showDataSource();
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
    if (!custom) dataFrom = $("dataset").value;
    custom = { task: "binary", X: [], y: [], source: "drawn" };
    if (session.task !== "regression") { custom.X = session.X.slice(); custom.y = session.y.slice(); custom.source = `drawn over ${dataFrom}`; }
  }
  custom.X.push([Number(x.toFixed(4)), Number(y.toFixed(4))]); custom.y.push(label);
  const k = Math.max(...custom.y) + 1;
  custom.task = k > 2 ? "multiclass" : "binary";
  showDataSource();
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
  fill($("engine"), options.engine); $("engine").value = "auto";
  setLossChoices();
  for (const name of options.features) {  // checkboxes labelled by the feature's name
    const label = document.createElement("label"), box = document.createElement("input");
    box.type = "checkbox"; box.value = name; box.checked = RAW_FEATURES.includes(name);
    box.addEventListener("change", () => {
      if (!checkedFeatures().length) { box.checked = true; showError("model.features: expected at least one input feature, got none"); return; }
      configure();
    });
    label.append(box, " " + name); $("features").appendChild(label);
  }
  drawWidths();
  wireNetwork();
  const fromUrl = readUrl();
  if (fromUrl) applyConfig(fromUrl);

  for (const id of ["noise", "n", "test_fraction", "data_seed", "activation", "residual", "norm", "init",
                    "optimizer", "engine", "batch_size", "weight_decay", "l1", "momentum", "loss_fn", "seed", "stop_epochs", "stop_loss"])
    $(id).addEventListener("change", configure);
  $("layers").addEventListener("change", () => {  // more layers get the width of every layer; fewer drop the last ones
    const n = Math.max(0, Math.min(options.limits.depth, num("layers") || 0)), w = num("width") || 8;
    hidden = hidden.slice(0, n); while (hidden.length < n) hidden.push(w);
    widthsChanged();
  });
  $("width").addEventListener("change", () => { const w = num("width"); hidden = hidden.map(() => w); drawWidths(); configure(); });
  $("add-layer").addEventListener("click", () => {
    if (hidden.length < options.limits.depth) hidden.push(hidden.length ? hidden[hidden.length - 1] : num("width") || 8);
    widthsChanged();
  });
  $("remove-layer").addEventListener("click", () => { hidden.pop(); widthsChanged(); });
  $("regenerate").addEventListener("click", () => {
    $("data_seed").value = 1 + Math.floor(Math.random() * 1e9);  // a new draw of the same data set
    configure();
  });
  for (const id of ["discretize", "show_test"])  // display only: redraw what is on screen
    $(id).addEventListener("change", () => { if (latest) render(latest, false); });
  $("dataset").addEventListener("change", () => {
    if ($("dataset").value === "custom") return;  // "your data" is chosen by uploading or drawing, not here
    custom = null; $("preset").value = ""; basePreset = null;  // another data set: the preset no longer applies
    dataFrom = $("dataset").value; showDataSource();
    const d = options.datasets.find((d) => d.name === $("dataset").value);
    if (d) { $("n").value = d.n; $("noise").value = d.noise; } setLossChoices($("loss_fn").value); configure(); });
  $("lr").addEventListener("change", () => { send("lr", num("lr")); writeUrl(startConfig()); });
  $("preset").addEventListener("change", async () => {
    const name = $("preset").value; if (!name) return;
    const mine = ++configSeq;
    configuring = true; showState();
    const info = await startSession({ preset: name });
    if (mine !== configSeq) { if (info) fetch(`/api/session/${info.id}`, { method: "DELETE" }); return; }
    if (!info) { configuring = false; flush(); showState(); return; }
    const e = info.experiment, d = Object.assign({}, e.data);
    applyConfig({ preset: name, data: d, model: e.model, train: e.train, stop: { epochs: e.train.epochs } });
    writeUrl(readConfig()); showError(null); connect(info, mine);
  });
  $("csv").addEventListener("change", (ev) => uploadCsv(ev.target.files[0]));
  $("clear-points").addEventListener("click", () => { custom = null; showDataSource(); setLossChoices($("loss_fn").value); configure(); });
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
