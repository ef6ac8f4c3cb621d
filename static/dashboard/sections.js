// The experiment page's result and analyses sections, kept current by the page's stream: an
// analysis's status and progress move in place as "analysis.status" messages arrive, and
// when a run or an analysis finishes, a run is added or the stream reconnects, both sections
// are re-read once from the server (no polling). The analysis forms are replaced only while
// nobody is typing in them.
(function () {
  "use strict";
  const live = JSON.parse(document.getElementById("lab-live").textContent);
  const FINISHED = ["done", "failed", "cancelled"];
  const results = { refreshes: 0, complete: false };
  const analyses = {
    statuses: {},
    get messages() { return analysisMessages; },
    get state() { return labStream.state.state; },
  };
  window.labResults = results;
  window.labAnalyses = analyses;
  let analysisMessages = 0;
  let formsEdited = false;
  let timer = null;
  let fetching = false;
  let again = false;

  function readStatuses() {
    for (const cell of document.querySelectorAll("[data-analysis-status]")) {
      analyses.statuses[Number(cell.dataset.analysisStatus)] = cell.textContent.trim();
    }
    const section = document.getElementById("design-results");
    results.complete = Boolean(section && section.dataset.complete === "1");
  }

  function embedFigure() {
    const data = document.getElementById("design-figure-item");
    const target = document.getElementById("design-figure");
    if (!data || !target) return Promise.resolve();
    for (const old of Bokeh.documents.filter((d) => d.roots().some((r) => r.id === target.dataset.rootId))) {
      Bokeh.documents.splice(Bokeh.documents.indexOf(old), 1);
    }
    const item = JSON.parse(data.textContent);
    target.innerHTML = "";
    target.dataset.rootId = item.root_id;
    return Bokeh.embed.embed_item(item, "design-figure");
  }

  function replace(id, html) {
    const holder = document.createElement("div");
    holder.innerHTML = html;
    const fresh = holder.querySelector(`#${id}`);
    const old = document.getElementById(id);
    if (fresh && old) old.replaceWith(fresh);
  }

  async function refresh() {
    if (fetching) { again = true; return; }
    fetching = true;
    try {
      const response = await fetch(live.sectionsUrl, { credentials: "same-origin" });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const data = await response.json();
      replace("design-results", data.results);
      replace("verdict", data.verdict);
      replace("analysis-list-block", data.analyses);
      replace("sharpness-block", data.analyses);
      if (!formsEdited) replace("analysis-forms-block", data.analyses);
      results.refreshes += 1;
      readStatuses();
      await embedFigure();
    } catch (err) {
      console.warn("sections refresh failed", err);
    } finally {
      fetching = false;
      if (again) { again = false; schedule(); }
    }
  }

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(refresh, 250);
  }

  function updateAnalysis(msg) {
    analysisMessages += 1;
    const id = msg.analysis;
    const known = id in analyses.statuses;
    analyses.statuses[id] = msg.status;
    const cell = document.querySelector(`[data-analysis-status="${id}"]`);
    if (cell && msg.status) { cell.textContent = msg.status; cell.className = `status status-${msg.status}`; }
    const bar = document.querySelector(`[data-analysis-progress="${id}"]`);
    if (bar && typeof msg.progress === "number") {
      bar.querySelector("progress").value = msg.progress;
      bar.querySelector(".pct").textContent = `${Math.round(100 * msg.progress)}%`;
    }
    const link = document.querySelector(`tr[data-analysis="${id}"] a.analysis-link`);
    if (link && msg.status === "done") link.textContent = "result";
    if (!known || FINISHED.includes(msg.status)) schedule(); // a new row, or a result to show
  }

  document.addEventListener("input", (event) => {
    if (event.target.closest && event.target.closest("#analysis-forms-block")) formsEdited = true;
  });
  labStream.on("analysis.status", updateAnalysis);
  labStream.on("run.status", (msg) => { if (FINISHED.includes(msg.status)) schedule(); });
  labStream.on("experiment.runs", schedule);
  // what finished between the page's render and the stream's opening, or while it was away
  labStream.onOpen((reconnected) => { if (reconnected || !results.complete) schedule(); });
  readStatuses();
  embedFigure();
})();
