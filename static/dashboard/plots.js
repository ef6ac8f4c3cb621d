// The run curves of the experiment and compare pages (dashboard/figures/runs.py), made
// interactive in the browser: the x axis (epoch, step, samples seen or wall time), EMA smoothing of the
// per-step curves with the raw curve faint behind, a log y axis, each group's mean (bold) with
// a mean ± std band, and a "waiting for the first point" state.
//
// Every run line has one source per metric, "r<run>:<metric>", with columns x (the stored x:
// the step for per-step metrics, the epoch for the others), y (as displayed: accuracy in
// percent), xv (x in the chosen unit) and ys (y smoothed). Groups have "mean:<g>:<metric>"
// (x, y, std) and "band:<g>:<metric>" (x, lower, upper) sources. A live per-step line is reduced
// again to M4 whenever it holds LIVE_LIMIT points, so a running page draws (and re-renders at
// every message) about as many points as the same page reloaded.
(function () {
  "use strict";
  const STEP_METRICS = new Set(["loss", "acc", "lambda_max", "lambda_max_pre"]); // x: the step
  const SMOOTHED = new Set(["loss", "acc"]); // the noisy per-step curves (curvature is drawn as measured)
  const PERCENT_METRICS = new Set(["acc", "train_acc", "test_acc"]);
  const M4_BUCKETS = 400; // as the page's first points (dashboard/figures/series.py: DISPLAY_POINTS / 4)
  const LIVE_LIMIT = 8 * M4_BUCKETS; // a live per-step line past this many points is reduced again to M4
  const DRAW_INTERVAL_MS = 500;
  const MEAN_BINS = 400; // per-step means are over bins of x (runs are downsampled differently)
  const CLOCK = "wall"; // the runs' clock series: [step, seconds of training] at each live flush
  const X_LABELS = { epoch: "epoch", step: "step", samples: "samples seen", wall: "wall time (s of training)" };
  const STORE = "lab.plots";
  const THRESHOLD = "threshold:"; // "threshold:<group>": a group's stability threshold (runs.py's THRESHOLD)

  const saved = (() => { try { return JSON.parse(localStorage.getItem(STORE)) || {}; } catch (e) { return {}; } })();
  const settings = { x: saved.x || "epoch", smoothing: saved.smoothing ?? 0.6, logY: Boolean(saved.logY) };
  let doc = null;
  let runs = {}; // id -> {group, stepsPerEpoch, batch, clock: [[step, seconds], ...] by step}
  const ema = new Map(); // source name -> {last, n}: the smoothing's state at the source's end
  let timer = null;
  const pending = new Map(); // source name -> {runId, metric, x, y}: points appended, not drawn yet

  const model = (type) => Bokeh.Models.get(type);
  const source = (name) => (doc ? doc.get_model_by_name(name) : null);
  const metricOf = (name) => name.slice(name.indexOf(":") + 1);
  const runOf = (name) => name.slice(1, name.indexOf(":"));

  function runSources() {
    return doc ? Array.from(doc.all_models).filter((m) => m.type === "ColumnDataSource" && /^r\d+:/.test(m.name || "")) : [];
  }

  // seconds of training when the run reached `step`: linear between its clock's readings
  function secondsAt(clock, step) {
    if (!clock || !clock.length) return NaN;
    if (step <= clock[0][0]) return clock[0][0] > 0 ? clock[0][1] * step / clock[0][0] : clock[0][1];
    let lo = 0, hi = clock.length - 1;
    if (step >= clock[hi][0]) return clock[hi][1];
    while (hi - lo > 1) { const mid = (lo + hi) >> 1; if (clock[mid][0] <= step) lo = mid; else hi = mid; }
    const [s0, t0] = clock[lo], [s1, t1] = clock[hi];
    return t0 + (t1 - t0) * (step - s0) / (s1 - s0);
  }

  // x in the chosen unit, from a stored x (a step, or an epoch) of one run
  function toView(runId, metric, x) {
    const r = runs[runId] || {};
    const spe = r.stepsPerEpoch, batch = r.batch;
    if (!spe || !batch || settings.x === (STEP_METRICS.has(metric) ? "step" : "epoch")) return x;
    const steps = STEP_METRICS.has(metric) ? x : x * spe;
    if (settings.x === "step") return steps;
    if (settings.x === "samples") return steps * batch;
    if (settings.x === "wall") return secondsAt(r.clock, steps);
    return steps / spe; // epoch
  }

  // a run's clock grows as it trains (a message carries the clock up to its own points: apply it first)
  function extendClock(runId, pairs) {
    const r = runs[runId];
    if (!r) return 0;
    r.clock = r.clock || [];
    const last = r.clock.length ? r.clock[r.clock.length - 1][0] : -Infinity;
    for (const p of pairs) if (p[0] > last) r.clock.push(p);
    return 0; // not a drawn point
  }

  function smoothingOf(metric) {
    return SMOOTHED.has(metric) ? settings.smoothing : 0;
  }

  // TensorBoard's debiased EMA: continues from `state` (the smoothing at the previous end)
  function smooth(ys, weight, state) {
    const out = new Array(ys.length);
    for (let i = 0; i < ys.length; i++) {
      const y = ys[i];
      if (!Number.isFinite(y) || weight === 0) { out[i] = y; continue; }
      state.last = state.last * weight + (1 - weight) * y;
      state.n += 1;
      out[i] = state.last / (1 - Math.pow(weight, state.n));
    }
    return out;
  }

  function derive(src) {
    fill(src, Array.from(src.data.x), Array.from(src.data.y));
  }

  // the source's points become xs, ys (as stored), with xv and ys derived and the smoothing restarted
  function fill(src, xs, ys) {
    const name = src.name, metric = metricOf(name), id = runOf(name);
    const state = { last: 0, n: 0 };
    const data = { x: xs, y: ys, xv: xs.map((x) => toView(id, metric, x)), ys: smooth(ys, smoothingOf(metric), state) };
    ema.set(name, state);
    src.data = data;
  }

  // M4 as the server reduces a page's first points (dashboard/figures/series.py): of each of
  // M4_BUCKETS equal buckets of the line's steps, its first and last point and its first minimum and
  // maximum, at their own steps (so a spike stays where it happened). xs ascending.
  function m4(xs, ys) {
    const n = xs.length;
    if (!n) return [[], []];
    const width = Math.max(1, Math.ceil((xs[n - 1] + 1) / M4_BUCKETS));
    const keep = [];
    for (let i = 0; i < n;) {
      const bucket = Math.floor(xs[i] / width);
      let j = i, lo = -1, hi = -1;
      for (; j < n && Math.floor(xs[j] / width) === bucket; j++) {
        if (!Number.isFinite(ys[j])) continue;
        if (lo < 0 || ys[j] < ys[lo]) lo = j;
        if (hi < 0 || ys[j] > ys[hi]) hi = j;
      }
      for (const k of [i, lo, hi, j - 1].filter((k) => k >= 0).sort((a, b) => a - b)) {
        if (keep[keep.length - 1] !== k) keep.push(k);
      }
      i = j;
    }
    return [keep.map((k) => xs[k]), keep.map((k) => ys[k])];
  }

  // Adds points [[x, y], ...] (y as stored) past the line's end; returns how many were new. They are
  // drawn with the others that arrive meanwhile, at most every DRAW_INTERVAL_MS (draw()): a
  // render per message would redraw each plot many times a second.
  function append(runId, metric, pairs) {
    if (metric === CLOCK) return extendClock(runId, pairs);
    const src = source(`r${runId}:${metric}`);
    if (!src) return 0;
    const waiting = pending.get(src.name) || { runId, metric, x: [], y: [] };
    const xs = waiting.x.length ? waiting.x : src.data.x;
    const after = xs.length ? xs[xs.length - 1] : -Infinity;
    const fresh = pairs.filter((p) => p[0] > after);
    if (!fresh.length) return 0;
    const scale = PERCENT_METRICS.has(metric) ? 100 : 1;
    for (const p of fresh) { waiting.x.push(p[0]); waiting.y.push(p[1] === null ? NaN : p[1] * scale); }
    pending.set(src.name, waiting);
    schedule();
    return fresh.length;
  }

  // the points append() took since the last draw, into their sources; then the groups' means
  function draw() {
    for (const [name, { runId, metric, x, y }] of pending) {
      const src = source(name);
      if (!src) continue;
      const xs = src.data.x;
      if (STEP_METRICS.has(metric) && xs.length + x.length > LIVE_LIMIT) {
        fill(src, ...m4(Array.from(xs).concat(x), Array.from(src.data.y).concat(y)));
      } else {
        if (!ema.has(name)) derive(src);
        const ys = smooth(y, smoothingOf(metric), ema.get(name));
        src.stream({ x, y, xv: x.map((v) => toView(runId, metric, v)), ys });
      }
    }
    pending.clear();
    recompute();
  }

  function count(runId) {
    let n = 0;
    for (const src of runSources()) {
      if (runOf(src.name) === String(runId)) n += (src.get_length() || 0) + (pending.get(src.name)?.x.length || 0);
    }
    return n;
  }

  function schedule() {
    if (timer === null) timer = setTimeout(() => { timer = null; draw(); }, DRAW_INTERVAL_MS);
  }

  // Each group's mean and std at each x (per-epoch metrics) or bin of x (per-step ones), over its
  // runs' drawn (smoothed) values.
  function recompute() {
    if (!doc) return;
    const byGroup = new Map();
    for (const src of runSources()) {
      const r = runs[runOf(src.name)];
      if (!r) continue;
      const key = `${r.group}:${metricOf(src.name)}`;
      if (!byGroup.has(key)) byGroup.set(key, []);
      byGroup.get(key).push(src);
    }
    for (const m of doc.all_models) {
      const name = m.name || "";
      if (!name.startsWith("mean:")) continue;
      const key = name.slice(5), met = key.slice(key.lastIndexOf(":") + 1);
      const lines = byGroup.get(key) || [];
      let maxX = 0;
      for (const s of lines) { const xv = s.data.xv; if (xv.length) maxX = Math.max(maxX, xv[xv.length - 1]); }
      const width = STEP_METRICS.has(met) ? (maxX > 0 ? maxX / MEAN_BINS : 1) : 0;
      const bins = new Map();
      for (const s of lines) {
        const xv = s.data.xv, ys = s.data.ys;
        for (let i = 0; i < xv.length; i++) {
          if (!Number.isFinite(ys[i])) continue;
          const b = width ? Math.floor(xv[i] / width) : xv[i];
          const acc = bins.get(b) || [0, 0, 0];
          acc[0] += ys[i]; acc[1] += ys[i] * ys[i]; acc[2] += 1;
          bins.set(b, acc);
        }
      }
      const keys = Array.from(bins.keys()).sort((a, b) => a - b);
      const x = keys.map((b) => (width ? (b + 0.5) * width : b));
      const mean = keys.map((b) => bins.get(b)[0] / bins.get(b)[2]);
      const std = keys.map((b, i) => {
        const [s, s2, n] = bins.get(b);
        return n > 1 ? Math.sqrt(Math.max(0, (s2 - s * s / n) / (n - 1))) : 0;
      });
      m.data = { x, y: mean, std };
      const band = source(`band:${key}`);
      if (band) band.data = { x, lower: mean.map((v, i) => v - std[i]), upper: mean.map((v, i) => v + std[i]) };
    }
    updateWaiting();
    window.labPlots.recomputed += 1;
  }

  // A figure shows its placeholder until one of its lines has a point.
  function updateWaiting() {
    for (const fig of figures()) {
      const panel = (fig.tags || []).find((t) => typeof t === "string" && t.startsWith("panel:"));
      if (!panel) continue;
      const key = panel.slice(6);
      const hasData = fig.renderers.some((r) => /^r\d+:/.test(r.data_source.name || "") && r.data_source.get_length() > 0);
      const placeholder = source(`waiting:${key}`);
      const label = doc.get_model_by_name(`waiting-label:${key}`);
      if (hasData && placeholder && placeholder.get_length()) placeholder.data = { x: [], y: [] };
      if (!hasData && placeholder && !placeholder.get_length()) placeholder.data = { x: [0, 1], y: [1, 2] };
      if (label && label.visible !== !hasData) label.visible = !hasData;
    }
  }

  function figures() {
    return doc ? Array.from(doc.all_models).filter((m) => m.type === "Figure" && (m.tags || []).some((t) => String(t).startsWith("panel:"))) : [];
  }

  function setXLabels() {
    for (const fig of figures()) for (const axis of fig.below) axis.axis_label = X_LABELS[settings.x];
  }

  function setLogY() {
    for (const fig of figures()) {
      if (!(fig.tags || []).includes("log-y")) continue;
      const log = settings.logY;
      if ((fig.y_scale.type === "LogScale") === log) continue;
      fig.y_scale = new (model(log ? "LogScale" : "LinearScale"))();
      const ticker = new (model(log ? "LogTicker" : "BasicTicker"))();
      for (const axis of fig.left) { axis.ticker = ticker; axis.formatter = new (model(log ? "LogTickFormatter" : "BasicTickFormatter"))(); }
      for (const grid of fig.center) if (grid.type === "Grid" && grid.dimension === 1) grid.ticker = ticker;
      fig.y_range.scale_hint = log ? "log" : "auto";
      for (const r of fig.renderers) r.data_source.change.emit(); // the range is computed anew for the scale
    }
  }

  function redraw() {
    for (const src of runSources()) derive(src);
    setXLabels();
    recompute();
  }

  function save() {
    try { localStorage.setItem(STORE, JSON.stringify(settings)); } catch (e) { /* private mode */ }
  }

  function bindControls() {
    const bar = document.getElementById("plot-controls");
    if (!bar || bar.dataset.bound) return;
    bar.dataset.bound = "1";
    const slider = bar.querySelector("#smoothing"), shown = bar.querySelector("#smoothing-value");
    const logY = bar.querySelector("#log-y"), xAxis = bar.querySelector("#x-axis");
    slider.value = settings.smoothing; shown.textContent = Number(settings.smoothing).toFixed(2);
    logY.checked = settings.logY; xAxis.value = settings.x;
    slider.addEventListener("input", () => {
      settings.smoothing = Number(slider.value); shown.textContent = settings.smoothing.toFixed(2);
      save(); redraw();
    });
    logY.addEventListener("change", () => { settings.logY = logY.checked; save(); setLogY(); });
    xAxis.addEventListener("change", () => { settings.x = xAxis.value; save(); redraw(); });
  }

  // doc: the embedded Bokeh document; runMeta: {id: {group, stepsPerEpoch, batch}}
  function attach(document_, runMeta) {
    doc = document_;
    runs = runMeta || {};
    ema.clear();
    pending.clear();
    bindControls();
    redraw();
    setLogY();
  }

  // runs.py's pack undone: base64, inflated (zlib), byte planes back into little-endian 4-byte
  // values of Type (x86 and ARM browsers are little-endian), the low bytes dropped by
  // display_precision zero; cumulated when they are differences
  async function unpack(text, Type, { cumulate = false, dropped = 0 } = {}) {
    const packed = Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
    const inflated = new Blob([packed]).stream().pipeThrough(new DecompressionStream("deflate"));
    const planes = new Uint8Array(await new Response(inflated).arrayBuffer());
    const n = planes.length / (4 - dropped), bytes = new Uint8Array(4 * n);
    for (let b = dropped; b < 4; b++) for (let i = 0; i < n; i++) bytes[4 * i + b] = planes[(b - dropped) * n + i];
    const values = Array.from(new Type(bytes.buffer));
    if (cumulate) for (let i = 1; i < n; i++) values[i] += values[i - 1];
    return values;
  }

  // Embeds a figure of dashboard/figures/runs.py ({item, lines, data, thresholds}) into the element
  // `target`. The skeleton draws one template line per group ("t#<g>:<metric>" sources, "t#<g>" drawn
  // renderers, each with a faint raw renderer on the same source): the group's first run takes the
  // template, and each other run of the group gets a copy (a new source, renderers with copies of
  // the template's glyphs, just above it, in the group's legend item and the hover). Sources become
  // "r<run>:<metric>", drawn renderers are named by the run's label (the hover's $name), and the
  // sources get their points. Resolves to the Bokeh document once every source holds its points.
  async function embed(figure, target) {
    const views = await Bokeh.embed.embed_item(figure.item, target);
    const document_ = views.roots[0].model.document; // skeletons of one shape share their ids: not looked up by id
    const members = new Map(); // group index -> [[run, label], ...] in the page's order
    for (const [run, label, g] of figure.lines) {
      if (!members.has(g)) members.set(g, []);
      members.get(g).push([run, label]);
    }
    const all = Array.from(document_.all_models);
    const sources = new Map(); // a template source -> [[source, its name, its run's label], ...], the template first
    const runsOf = (template) => {
      if (!sources.has(template)) {
        const [, g, metric] = /^t#(\d+):(.*)$/.exec(template.name);
        sources.set(template, (members.get(Number(g)) || []).map(([run, label], k) => [
          k === 0 ? template : new (model("ColumnDataSource"))({ data: { x: [], y: [], xv: [], ys: [] } }),
          `r${run}:${metric}`, label]));
      }
      return sources.get(template);
    };
    // the document indexes the new models (get_model_by_name, all_models) as the block ends
    document_.freeze_all_models(() => {
      const copies = new Map(); // a template renderer -> its copies, one per other run of its group
      for (const fig of all.filter((m) => m.type === "Figure")) {
        const renderers = [];
        for (const r of fig.renderers) {
          renderers.push(r);
          if (!/^t#\d+:/.test(r.data_source.name || "")) continue;
          const runs = runsOf(r.data_source);
          const made = runs.slice(1).map(([src, , label]) => new (model("GlyphRenderer"))({
            data_source: src, glyph: new (model(r.glyph.type))(r.glyph.dirty_attributes), ...(r.name ? { name: label } : {}) }));
          if (r.name && runs.length) r.name = runs[0][2];
          copies.set(r, made);
          renderers.push(...made);
        }
        fig.renderers = renderers;
      }
      for (const m of all) {
        if (m.type === "LegendItem" || (m.type === "HoverTool" && Array.isArray(m.renderers))) {
          m.renderers = m.renderers.flatMap((r) => [r, ...(copies.get(r) || [])]);
        }
      }
      for (const runs of sources.values()) for (const [src, name] of runs) src.name = name;
    });
    const filled = [];
    for (const runs of sources.values()) {
      for (const [src, name] of runs) {
        const points = figure.data[name];
        if (points) {
          filled.push(Promise.all([unpack(points[0], Int32Array, { cumulate: true }),
                                   unpack(points[1], Float32Array, { dropped: 1 })])
            .then(([x, y]) => { src.data = { x, y, xv: x.slice(), ys: y.slice() }; }));
        }
      }
    }
    for (const m of all) {
      const name = m.name || "";
      if (name.startsWith(THRESHOLD) && figure.thresholds[name.slice(THRESHOLD.length)]) {
        const [value, text] = figure.thresholds[name.slice(THRESHOLD.length)];
        m.data = { x: [0], y: [value], text: [text] };
      }
    }
    await Promise.all(filled);
    return document_;
  }

  window.labPlots = { attach, append, count, draw, embed, m4, settings, recomputed: 0 };
})();
