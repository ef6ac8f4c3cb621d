// Experiments list: refresh status and progress (with ETA) every few seconds while any
// experiment on it is queued or running.
(function () {
  "use strict";
  const api = document.currentScript.dataset.api;
  const table = document.getElementById("experiments");
  if (!table) return;

  window.labList = { refreshes: 0 };

  async function refresh() {
    window.labList.refreshes += 1;
    try {
      const response = await fetch(api, { credentials: "same-origin" });
      if (!response.ok) return;
      const data = await response.json();
      for (const exp of data.experiments) {
        const row = table.querySelector(`tr[data-experiment="${exp.id}"]`);
        if (!row) continue;
        const status = row.querySelector(".status");
        status.textContent = exp.status;
        status.className = `status status-${exp.status}`;
        row.querySelector("progress").value = exp.progress;
        row.querySelector(".pct").textContent = `${Math.round(100 * exp.progress)}%`;
        row.querySelector(".eta").textContent = exp.progress >= 1 ? "" : labEta(exp.eta_seconds);
      }
    } finally {
      schedule();
    }
  }

  function schedule() {
    const statuses = Array.from(table.querySelectorAll("tr[data-experiment] .status")).map((el) => el.textContent.trim());
    if (statuses.some((s) => s === "queued" || s === "running")) setTimeout(refresh, 3000);
  }
  schedule();
})();
