// New-experiment form: choosing a preset fills the fields from it and says what it will run.
// Any change asks the server for the plan and its estimated duration. The server records the
// preset only if the settings still match it (epochs, seeds and subset may change).
(function () {
  "use strict";
  const presets = JSON.parse(document.getElementById("presets").textContent);
  const plans = JSON.parse(document.getElementById("plans").textContent);
  const form = document.getElementById("experiment-form");
  const select = form.elements.preset;
  const planBox = document.getElementById("plan");
  const planText = document.getElementById("plan-text");
  const planDescription = document.getElementById("plan-description");
  let timer = null;

  function setValue(input, value) {
    if (input instanceof HTMLSelectElement && input.multiple) {
      const chosen = new Set(value || []);
      for (const option of input.options) option.selected = chosen.has(option.value);
    } else if (input.type === "checkbox") {
      input.checked = Boolean(value);
    } else {
      input.value = value === null || value === undefined ? "" : value;
    }
  }

  async function estimate() {
    const params = new URLSearchParams(new FormData(form));
    params.delete("csrfmiddlewaretoken");
    try {
      const response = await fetch(`${planBox.dataset.url}?${params}`, { credentials: "same-origin" });
      const data = await response.json();
      planText.textContent = response.ok ? data.text : "fix the fields marked below first";
    } catch (err) {
      console.warn("estimate failed", err);
    }
  }

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(estimate, 300);
  }

  // a kind's own settings are shown only when that kind is chosen (the server reads only those)
  const kindSelect = form.elements.kind;
  function showKindFields() {
    const kind = kindSelect.value || "gap";
    for (const div of form.querySelectorAll(".field[data-kinds]")) {
      const mine = div.dataset.kinds.split(" ").includes(kind);
      div.hidden = !mine && !div.classList.contains("has-error");
    }
  }
  kindSelect.addEventListener("change", showKindFields);
  showKindFields();

  select.addEventListener("change", () => {
    const values = presets[select.value];
    if (!values) return; // "custom": keep what is there
    for (const [name, value] of Object.entries(values)) {
      const input = form.elements[name];
      if (input && name !== "preset") setValue(input, value);
    }
    showKindFields();
    const plan = plans[select.value];
    if (plan) {
      planDescription.textContent = plan.description;
      planText.textContent = plan.text;
    }
  });
  form.addEventListener("input", (event) => { if (event.target !== select) schedule(); });
  form.addEventListener("change", (event) => { if (event.target !== select) schedule(); });
})();
