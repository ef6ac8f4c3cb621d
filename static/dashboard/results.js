// The design's result section (tables, paper comparison, figure) fills in live: while the
// experiment is not complete it re-reads the section every few seconds; the server answers
// 204 until a run or an analysis has finished since the version the page shows.
(function () {
  "use strict";
  const POLL_MS = 3000;
  window.labResults = { refreshes: 0, complete: false };

  function section() {
    return document.getElementById("design-results");
  }

  function embedFigure() {
    const data = document.getElementById("design-figure-item");
    const target = document.getElementById("design-figure");
    if (!data || !target || typeof Bokeh === "undefined") return Promise.resolve();
    target.innerHTML = "";
    return Bokeh.embed.embed_item(JSON.parse(data.textContent), "design-figure");
  }

  async function poll() {
    const el = section();
    if (!el) return;
    window.labResults.complete = el.dataset.complete === "1";
    if (window.labResults.complete) return;
    const url = el.dataset.url;
    try {
      const response = await fetch(`${url}${url.includes("?") ? "&" : "?"}v=${encodeURIComponent(el.dataset.version)}`,
                                   { credentials: "same-origin" });
      if (response.status === 200) {
        const holder = document.createElement("div");
        holder.innerHTML = await response.text();
        el.replaceWith(holder.firstElementChild);
        window.labResults.refreshes += 1;
        await embedFigure();
      }
    } catch (err) {
      console.warn("results refresh failed", err);
    }
    setTimeout(poll, POLL_MS);
  }

  embedFigure().then(() => setTimeout(poll, POLL_MS));
})();
