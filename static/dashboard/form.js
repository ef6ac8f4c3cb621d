// New-experiment form: choosing a preset fills the fields from it and says what it will run;
// choosing "custom" of a kind keeps the fields and shows that kind's.
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

  // the one choice names the kind: a preset's own, or "custom:<kind>"; the form shows the fields
  // that kind reads (the server reads only those), and a section with none of them is hidden
  const kindInput = form.elements.kind;
  function chosenKind() {
    const value = select.value;
    if (presets[value]) return presets[value].kind;
    if (value.startsWith("custom:")) return value.slice("custom:".length);
    return kindInput.value || "gap";
  }
  function showKindFields() {
    const kind = chosenKind();
    kindInput.value = kind;
    for (const div of form.querySelectorAll(".field[data-kinds]")) {
      const mine = div.dataset.kinds.split(" ").includes(kind);
      div.hidden = !mine && !div.classList.contains("has-error");
    }
    for (const section of form.querySelectorAll("fieldset.form-section")) {
      section.hidden = !section.querySelector(".field:not([hidden])");
    }
  }
  showKindFields();

  select.addEventListener("change", () => {
    const values = presets[select.value];
    showKindFields();
    if (!values) { schedule(); return; } // custom: keep what is there
    for (const [name, value] of Object.entries(values)) {
      const input = form.elements[name];
      if (input && name !== "preset") setValue(input, value);
    }
    const plan = plans[select.value];
    if (plan) {
      planDescription.textContent = plan.description;
      planText.textContent = plan.text;
    }
  });
  form.addEventListener("input", (event) => { if (event.target !== select) schedule(); });
  form.addEventListener("change", (event) => { if (event.target !== select) schedule(); });
})();
