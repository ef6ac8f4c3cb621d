// Analyses, live: on the experiment page, the analysis list's status and progress follow
// "analysis.status" messages on the experiment's WebSocket (a connection of its own, so the
// live plots' script stays as it is); on an analysis page, the page reloads when it finishes.
(function () {
  "use strict";
  const config = JSON.parse(document.getElementById("lab-analyses").textContent);
  const FINISHED = ["done", "failed", "cancelled"];
  const state = { messages: 0, state: "connecting", statuses: {} };
  window.labAnalyses = state;
  let retryDelay = 1000;

  function update(id, status, progress) {
    state.statuses[id] = status;
    const cell = document.querySelector(`[data-analysis-status="${id}"]`);
    if (cell && status) { cell.textContent = status; cell.className = `status status-${status}`; }
    const bar = document.querySelector(`[data-analysis-progress="${id}"]`);
    if (bar && typeof progress === "number") {
      bar.querySelector("progress").value = progress;
      bar.querySelector(".pct").textContent = `${Math.round(100 * progress)}%`;
    }
    const link = document.querySelector(`tr[data-analysis="${id}"] a.analysis-link`);
    if (link && status === "done") link.textContent = "result";
    if (config.analysis === id && FINISHED.includes(status) && config.status !== status) location.reload();
  }

  // what happened while the socket was closed: re-read each unfinished analysis over HTTP
  async function catchUp() {
    const ids = config.analysis ? [config.analysis]
      : Array.from(document.querySelectorAll("tr[data-analysis]")).map((tr) => Number(tr.dataset.analysis));
    for (const id of ids) {
      if (FINISHED.includes(state.statuses[id])) continue;
      try {
        const response = await fetch(config.statusUrl.replace("{id}", id), { credentials: "same-origin" });
        if (response.ok) { const a = await response.json(); update(a.id, a.status, a.progress); }
      } catch (err) { console.warn("analysis catch-up failed", id, err); }
    }
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    const socket = new WebSocket(scheme + location.host + config.wsPath);
    socket.onopen = () => { retryDelay = 1000; state.state = "live"; catchUp(); };
    socket.onmessage = (event) => {
      const msg = JSON.parse(event.data);
      if (msg.type !== "analysis.status") return;
      state.messages += 1;
      update(msg.analysis, msg.status, msg.progress);
    };
    socket.onclose = (event) => {
      if (event.code === 4403) { state.state = "stream refused"; return; }
      state.state = "reconnecting";
      setTimeout(connect, retryDelay);
      retryDelay = Math.min(retryDelay * 2, 10000);
    };
  }

  // a result page: its server-built figure, embedded like the experiment's plots
  const figure = document.getElementById("analysis-figure");
  if (figure && window.Bokeh) {
    const item = JSON.parse(figure.textContent);
    if (item) Bokeh.embed.embed_item(item, "analysis-plots").then(() => { state.figure = "embedded"; });
  }

  for (const tr of document.querySelectorAll("tr[data-analysis]")) {
    const cell = tr.querySelector("[data-analysis-status]");
    if (cell) state.statuses[Number(tr.dataset.analysis)] = cell.textContent.trim();
  }
  if (config.analysis) state.statuses[config.analysis] = config.status;
  if (!config.analysis || !FINISHED.includes(config.status)) connect();
  else state.state = "finished";
})();
