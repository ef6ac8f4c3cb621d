// An analysis's page: its server-built figure, embedded like the experiment's plots, and its
// status and progress followed live on the experiment's stream; the page reloads to show the
// result once the analysis finishes.
(function () {
  "use strict";
  const config = JSON.parse(document.getElementById("lab-analyses").textContent);
  const FINISHED = ["done", "failed", "cancelled"];
  const state = {
    statuses: { [config.analysis]: config.status },
    messages: 0,
    get state() { return FINISHED.includes(config.status) ? "finished" : labStream.state.state; },
  };
  window.labAnalyses = state;

  function update(id, status, progress) {
    if (id !== config.analysis) return;
    state.statuses[id] = status;
    const cell = document.querySelector(`[data-analysis-status="${id}"]`);
    if (cell && status) { cell.textContent = status; cell.className = `status status-${status}`; }
    const bar = document.querySelector(`[data-analysis-progress="${id}"]`);
    if (bar && typeof progress === "number") {
      bar.querySelector("progress").value = progress;
      bar.querySelector(".pct").textContent = `${Math.round(100 * progress)}%`;
    }
    if (FINISHED.includes(status) && config.status !== status) location.reload();
  }

  // what happened while the stream was closed: re-read the analysis over HTTP
  async function catchUp() {
    try {
      const response = await fetch(config.statusUrl.replace("{id}", config.analysis), { credentials: "same-origin" });
      if (response.ok) { const a = await response.json(); update(a.id, a.status, a.progress); }
    } catch (err) { console.warn("analysis catch-up failed", err); }
  }

  const figure = document.getElementById("analysis-figure");
  const item = figure ? JSON.parse(figure.textContent) : null;
  if (item) Bokeh.embed.embed_item(item, "analysis-plots").then(() => { state.figure = "embedded"; });
  if (!FINISHED.includes(config.status)) {
    labStream.on("analysis.status", (msg) => { state.messages += 1; update(msg.analysis, msg.status, msg.progress); });
    labStream.onOpen(catchUp);
    labStream.open(config.wsPath);
  }
})();
