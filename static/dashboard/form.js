// New-experiment form: choosing a preset fills the fields from it. The server records the
// preset only if the settings still match it (epochs, seeds and subset may change).
(function () {
  "use strict";
  const presets = JSON.parse(document.getElementById("presets").textContent);
  const form = document.getElementById("experiment-form");
  const select = form.elements.preset;
  select.addEventListener("change", () => {
    const values = presets[select.value];
    if (!values) return; // "custom": keep what is there
    for (const [name, value] of Object.entries(values)) {
      const input = form.elements[name];
      if (input && name !== "preset") input.value = value === null ? "" : value;
    }
  });
})();
