// "ETA 1h 05m", "ETA 3m 07s", "ETA 42s" from seconds (empty when unknown), as the server's duration filter.
window.labEta = function (s) {
  "use strict";
  if (s === null || s === undefined) return "";
  s = Math.round(s);
  if (s >= 3600) return `ETA ${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
  if (s >= 60) return `ETA ${Math.floor(s / 60)}m ${String(s % 60).padStart(2, "0")}s`;
  return `ETA ${s}s`;
};
