// The ML models page: each "try" form sends its fields (typed as the schema says) to the model's predict endpoint
// with the session and CSRF token, and shows the prediction as text.
(function () {
  "use strict";
  function field(root, name) { return root.querySelector('[data-field="' + name + '"]'); }

  function inputs(form) {
    const row = {};
    form.querySelectorAll("[data-type]").forEach(function (element) {
      const raw = element.value.trim();
      if (element.dataset.type === "string") {
        row[element.name] = element.value;
      } else if (raw !== "") {
        row[element.name] = Number(raw);  // a number the server checks against the schema; "" stays missing
      }
    });
    return row;
  }

  function formatValue(value) {
    return typeof value === "number" ? value.toLocaleString(undefined, { maximumFractionDigits: 2 }) : String(value);
  }

  function show(form, answer) {
    const result = field(form, "result");
    const prediction = answer.predictions[0];
    const name = Object.keys(prediction).find(function (key) { return key !== "probabilities"; });
    field(result, "value").textContent = formatValue(prediction[name]);
    App.showScores(field(result, "scores"), prediction.probabilities);
    field(result, "which").textContent = "Version " + answer.version + (answer.alias ? " (" + answer.alias + ")" : "");
    result.hidden = false;
    form.dataset.state = "done";
  }

  document.querySelectorAll("form.ml-try").forEach(function (form) {
    form.addEventListener("submit", async function (event) {
      event.preventDefault();
      const button = form.querySelector("button[type=submit]");
      field(form, "error").textContent = "";
      field(form, "result").hidden = true; // an answer to the previous inputs must not sit beside this one's error
      button.disabled = true;
      form.setAttribute("aria-busy", "true");
      try {
        show(form, await App.api("POST", form.dataset.url, { inputs: inputs(form) }));
      } catch (error) {
        field(form, "error").textContent = error.message;
      } finally {
        button.disabled = false;
        form.removeAttribute("aria-busy");
      }
    });
  });
}());
