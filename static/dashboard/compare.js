// Compare page: the run chooser (a filter box, one checkbox for all of an experiment's runs)
// and the sortable runs table. The plots are plots.js's.
(function () {
  "use strict";
  const filter = document.getElementById("run-filter");
  if (filter) {
    filter.addEventListener("input", () => {
      const words = filter.value.toLowerCase().split(/\s+/).filter(Boolean);
      for (const body of document.querySelectorAll("tbody.experiment-runs")) {
        const head = body.querySelector(".experiment-row").textContent.toLowerCase();
        let shown = 0;
        for (const row of body.querySelectorAll(".run-choice")) {
          const text = head + " " + row.textContent.toLowerCase();
          row.hidden = !words.every((w) => text.includes(w));
          if (!row.hidden) shown += 1;
        }
        body.hidden = shown === 0;
      }
      document.getElementById("run-chooser").open = true;
    });
  }
  for (const box of document.querySelectorAll(".select-experiment")) {
    const body = box.closest("tbody");
    const runs = () => Array.from(body.querySelectorAll(".run-choice:not([hidden]) input[name=runs]"));
    box.checked = runs().length > 0 && runs().every((b) => b.checked);
    box.addEventListener("change", () => { for (const b of runs()) b.checked = box.checked; });
  }
  const group = document.getElementById("group-by");
  if (group && document.querySelector("input[name=runs]:checked")) {
    group.addEventListener("change", () => group.form.submit());
  }

  // sortable tables: click a header; again for the other way
  for (const table of document.querySelectorAll("table.sortable")) {
    table.querySelectorAll("th[data-sort]").forEach((th, col) => {
      th.tabIndex = 0;
      th.classList.add("sort-header");
      const sort = () => {
        const numeric = th.dataset.sort === "number";
        const ascending = th.dataset.dir !== "asc"; // first click ascending, the next descending
        table.querySelectorAll("th[data-sort]").forEach((other) => { delete other.dataset.dir; });
        th.dataset.dir = ascending ? "asc" : "desc";
        const body = table.tBodies[0];
        const value = (row) => {
          const cell = row.cells[col];
          const raw = cell.dataset.value !== undefined ? cell.dataset.value : cell.textContent.trim();
          return numeric ? (raw === "" || Number.isNaN(Number(raw)) ? -Infinity : Number(raw)) : raw.toLowerCase();
        };
        const rows = Array.from(body.rows).sort((a, b) => {
          const va = value(a), vb = value(b);
          return (va < vb ? -1 : va > vb ? 1 : 0) * (ascending ? 1 : -1);
        });
        for (const row of rows) body.appendChild(row);
      };
      th.addEventListener("click", sort);
      th.addEventListener("keydown", (e) => { if (e.key === "Enter") sort(); });
    });
  }
})();
