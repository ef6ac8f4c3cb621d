// Experiments list: each row's status, progress and ETA follow the user's list stream
// ("experiment.summary" messages, published as runs progress and change status); after a
// reconnect the rows are re-read once from the API.
(function () {
  "use strict";
  const script = document.currentScript;
  const table = document.getElementById("experiments");
  window.labList = { refreshes: 0 };
  if (!table) return;

  function update(exp) {
    const row = table.querySelector(`tr[data-experiment="${exp.experiment}"]`);
    if (!row) return;
    window.labList.refreshes += 1;
    const status = row.querySelector(".status");
    status.textContent = exp.status;
    status.className = `status status-${exp.status}`;
    row.querySelector("progress").value = exp.progress;
    row.querySelector(".pct").textContent = `${Math.round(100 * exp.progress)}%`;
    row.querySelector(".eta").textContent = exp.progress >= 1 ? "" : labEta(exp.eta_seconds);
  }

  async function catchUp() {
    try {
      const response = await fetch(script.dataset.api, { credentials: "same-origin" });
      if (!response.ok) return;
      for (const exp of (await response.json()).experiments) {
        update({ experiment: exp.id, status: exp.status, progress: exp.progress, eta_seconds: exp.eta_seconds });
      }
    } catch (err) { console.warn("list catch-up failed", err); }
  }

  labStream.on("experiment.summary", update);
  labStream.onOpen((reconnected) => { if (reconnected) catchUp(); });
  labStream.open(script.dataset.ws);
})();
