// The experiment page's live plots and runs table: embeds the server-built Bokeh document,
// then opens the page's stream (stream.js) and streams points into the per-run data sources
// ("r<run>:<metric>", through plots.js). Each run's messages carry a sequence number; on a gap or a reconnect
// the missed points are re-read over HTTP (after_seq), and points are kept only past the
// line's last x. The experiment's status is the server's (run.status messages carry it).
(function () {
  "use strict";
  const live = JSON.parse(document.getElementById("lab-live").textContent);
  const item = JSON.parse(document.getElementById("lab-figure").textContent);
  const runs = {};
  for (const [id, r] of Object.entries(live.runs)) {
    runs[id] = { ...r, fetching: false, queue: [] };
  }
  let doc = null;
  window.labLive = {
    pointsReceived: 0,
    get messages() { return labStream.state.messages; },
    get state() { return labStream.state.state; },
    get socket() { return labStream.state.socket; },
  };

  // points: {metric: [[x, y], ...]} sorted by x
  function applyPoints(runId, points) {
    let added = 0;
    const entries = Object.entries(points || {});
    entries.sort((a, b) => (b[0] === "wall") - (a[0] === "wall")); // the clock first: it places the others
    for (const [metric, pairs] of entries) added += labPlots.append(runId, metric, pairs);
    if (added) {
      window.labLive.pointsReceived += added;
      updatePointCount(runId);
    }
  }

  function updatePointCount(runId) {
    const cell = document.querySelector(`[data-points-for="${runId}"]`);
    if (cell) cell.textContent = String(labPlots.count(runId));
  }

  function attachPlots() {
    const meta = {};
    for (const [id, r] of Object.entries(runs)) meta[id] = { group: r.role, stepsPerEpoch: r.stepsPerEpoch, batch: r.batch, clock: r.clock };
    labPlots.attach(doc, meta);
  }

  function setProgress(key, progress, eta) {
    const el = document.querySelector(`[data-progress-for="${key}"]`);
    if (!el) return;
    el.querySelector("progress").value = progress;
    el.querySelector(".pct").textContent = `${Math.round(100 * progress)}%`;
    el.querySelector(".eta").textContent = progress >= 1 ? "" : labEta(eta);
  }

  function updateProgress(runId, progress, eta) {
    if (!runs[runId] || progress === undefined || progress === null) return;
    runs[runId].progress = progress;
    setProgress(runId, progress, eta);
    const ids = Object.keys(runs);
    const mean = ids.reduce((acc, id) => acc + runs[id].progress, 0) / ids.length;
    setProgress("experiment", mean, experimentEta());
  }

  // the server's ETA of the whole experiment (experiment.summary, every few seconds), counted down
  let summary = { eta: live.eta, at: Date.now() };
  function experimentEta() {
    if (summary.eta === null || summary.eta === undefined) return null;
    return Math.max(0, summary.eta - (Date.now() - summary.at) / 1000);
  }

  const FINISHED = ["done", "failed", "cancelled"];

  function setStatus(runId, status, finalMetrics, experimentStatus) {
    const cell = document.querySelector(`[data-status-for="${runId}"]`);
    if (!cell || !status) return;
    if (runs[runId]) runs[runId].status = status;
    cell.textContent = status;
    cell.className = `status status-${status}`;
    if (FINISHED.includes(status)) {
      const button = document.querySelector(`tr[data-run="${runId}"] button.cancel`);
      if (button) button.closest("form").remove();
    }
    for (const [key, value] of Object.entries(finalMetrics || {})) {
      const td = document.querySelector(`tr[data-run="${runId}"] td[data-final="${key}"]`);
      // as the server prints it (templatetags/lab.py metric_text): accuracy in percent
      if (td && typeof value === "number") td.textContent = key.endsWith("acc") ? `${(100 * value).toFixed(2)}%` : value.toFixed(4);
    }
    setExperimentStatus(experimentStatus);
  }

  function setExperimentStatus(status) {
    const el = document.getElementById("experiment-status");
    if (el && status) { el.textContent = status; el.className = `status status-${status}`; }
  }

  function onMetrics(msg) {
    const r = runs[msg.run];
    if (!r) return;
    updateProgress(msg.run, msg.progress, msg.eta_seconds);
    if (r.fetching || r.held) { r.queue.push(msg); return; }
    if (msg.seq <= r.lastSeq + 1) {
      applyPoints(msg.run, msg.points);
      r.lastSeq = Math.max(r.lastSeq, msg.seq);
    } else {
      r.queue.push(msg); // a gap: re-read what was missed, then replay what waited
      catchUp(msg.run);
    }
  }

  async function catchUp(runId) {
    const r = runs[runId];
    if (r.fetching) return;
    r.fetching = true;
    try {
      const url = live.metricsUrl.replace("{run}", runId);
      const sep = url.includes("?") ? "&" : "?";
      const response = await fetch(`${url}${sep}after_seq=${r.lastSeq}`, { credentials: "same-origin" });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const data = await response.json();
      applyPoints(runId, data.points);
      r.lastSeq = Math.max(r.lastSeq, data.last_seq);
      updateProgress(runId, data.progress, data.eta_seconds);
      setStatus(runId, data.status, data.final_metrics, data.experiment_status);
    } catch (err) {
      console.warn("catch-up failed", runId, err);
    } finally {
      r.fetching = false;
    }
    const waiting = r.queue.sort((a, b) => a.seq - b.seq);
    r.queue = [];
    for (const msg of waiting) onMetrics(msg);
  }

  // Runs added after the page loaded (a plan's dependent runs, e.g. warm-started LB runs):
  // re-read the runs table and the figure, then catch every run up from the figure's points.
  // Called whenever the stream opens too; with no new run it only catches up (the plots keep
  // their zoom).
  let refreshing = null;
  let refreshAgain = false;
  function refreshRuns() {
    if (refreshing) { refreshAgain = true; return refreshing; }
    refreshing = (async () => {
      try {
        const url = live.runsUrl;
        const known = `${url.includes("?") ? "&" : "?"}known=${Object.keys(runs).join(",")}`;
        const response = await fetch(url + known, { credentials: "same-origin" });
        if (!response.ok) throw new Error(`HTTP ${response.status}`);
        const data = await response.json();
        if (!data.rows) { // no run was added: catch up the ones the page has
          for (const id of Object.keys(runs)) catchUp(id);
          return;
        }
        // until the new plots are attached, a message waits (applied to the plots being replaced, or
        // to a run they do not draw yet, it would be lost): then each run catches up and replays them
        for (const [id, r] of Object.entries(data.runs)) runs[id] = { ...r, fetching: false, held: true, queue: [] };
        const plots = document.getElementById("plots");
        const old = doc;
        doc = null;
        plots.innerHTML = "";
        if (old) Bokeh.documents.splice(Bokeh.documents.indexOf(old), 1);
        doc = await labPlots.embed(data.figure, "plots");
        document.querySelector("#runs tbody").innerHTML = data.rows; // the new runs' rows with their lines
        window.labLive.runsRefreshed = (window.labLive.runsRefreshed || 0) + 1;
        attachPlots();
        for (const id of Object.keys(runs)) { updatePointCount(id); updateProgress(id, runs[id].progress, null); }
        setExperimentStatus(data.status);
      } catch (err) {
        console.warn("runs refresh failed", err);
      } finally {
        for (const [id, r] of Object.entries(runs)) if (r.held) { r.held = false; catchUp(id); }
        refreshing = null;
        if (refreshAgain) { refreshAgain = false; refreshRuns(); }
      }
    })();
    return refreshing;
  }

  // The stream opens at once (the page's other sections listen on it too); what it brings for
  // the plots waits, in order, until they are embedded.
  const embedded = labPlots.embed(item, "plots").then((embeddedDoc) => {
    doc = embeddedDoc;
    attachPlots();
    for (const id of Object.keys(runs)) updatePointCount(id);
    window.labLive.plotsReady = true; // every stored point is in the plots
  });
  function whenEmbedded(fn) {
    return (msg) => embedded.then(() => fn(msg));
  }

  labStream.on("experiment.runs", whenEmbedded((msg) => {
    if ((msg.runs || []).some((id) => !runs[id])) refreshRuns();
  }));
  labStream.on("run.metrics", whenEmbedded(onMetrics));
  labStream.on("experiment.summary", (msg) => {
    summary = { eta: msg.eta_seconds, at: Date.now() };
    setProgress("experiment", msg.progress, experimentEta());
    setExperimentStatus(msg.status);
  });
  labStream.on("run.progress", whenEmbedded((msg) => updateProgress(msg.run, msg.progress, msg.eta_seconds)));
  labStream.on("run.status", whenEmbedded((msg) => {
    updateProgress(msg.run, msg.progress, msg.eta_seconds);
    setStatus(msg.run, msg.status, msg.final_metrics, msg.experiment_status);
    if (runs[msg.run]) catchUp(msg.run);
  }));
  // runs may have been added, and points stored, before the stream opened or while it was away
  labStream.onOpen(whenEmbedded(() => refreshRuns()));
  labStream.open(live.wsPath);
})();
