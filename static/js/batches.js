// The Batches page: start a batch from a CSV or JSONL of prompts, watch each batch's progress live (batch.progress
// events on /ws/events/), cancel one, download its answers. Every row is drawn from the API's JSON, whether it came
// from the list, a new upload or an event, so the page shows exactly what /api/v1/batches/ says.
(function () {
  "use strict";
  const table = document.getElementById("batches");
  if (!table) return;
  const tbody = table.querySelector("tbody");
  const labels = {
    validating: "Validating", in_progress: "Running", finalizing: "Finishing", completed: "Completed",
    failed: "Failed", expired: "Expired", cancelling: "Cancelling", cancelled: "Cancelled",
  };
  const placeholder = table.dataset.idPlaceholder;

  function field(row, name) { return row.querySelector('[data-field="' + name + '"]'); }
  function urlFor(template, id) { return template.split(placeholder).join(encodeURIComponent(id)); }

  function rowOf(batch) {
    let row = tbody.querySelector('tr[data-batch="' + batch.id + '"]');
    if (row) return row;
    row = document.getElementById("batch-row-template").content.firstElementChild.cloneNode(true);
    row.dataset.batch = batch.id;
    field(row, "csv").href = urlFor(table.dataset.resultsUrl, batch.id) + "?format=csv";
    field(row, "jsonl").href = urlFor(table.dataset.resultsUrl, batch.id) + "?format=jsonl";
    field(row, "cancel").addEventListener("click", function () { cancel(row); });
    tbody.prepend(row);
    document.getElementById("no-batches").hidden = true;
    return row;
  }

  function countsText(batch) {
    if (!batch.total) return batch.status === "validating" ? "Checking the file…" : "";
    let text = batch.done + " of " + batch.total + " done";
    if (batch.failed) text += " · " + batch.failed + " without an answer";
    return text;
  }

  function showErrors(list, errors) {
    list.replaceChildren();
    (errors || []).slice(0, 5).forEach(function (error) {
      const item = document.createElement("li");
      item.textContent = (error.line ? "Line " + error.line + ": " : "") + error.message;
      list.append(item);
    });
  }

  function render(batch) {
    const row = rowOf(batch);
    // Events can arrive out of order across processes: never move a row backwards.
    if (Number(row.dataset.done || -1) > batch.done && !batch.finished) return;
    row.dataset.done = batch.done;
    row.dataset.status = batch.status;
    field(row, "title").textContent = batch.title;
    field(row, "created").textContent = new Date(batch.created_at).toLocaleString();
    field(row, "model").textContent = batch.model || "—";
    const status = field(row, "status");
    status.textContent = labels[batch.status] || batch.status;
    status.className = "batch-status status-" + batch.status;
    field(row, "reason").textContent = batch.waiting_reason || "";
    const progress = field(row, "progress");
    progress.value = batch.progress;
    progress.setAttribute("aria-label", batch.title + ": " + batch.progress + "% done");
    field(row, "counts").textContent = countsText(batch);
    showErrors(field(row, "errors"), batch.errors);
    const hasResults = batch.total > 0;
    field(row, "csv").hidden = !hasResults;
    field(row, "jsonl").hidden = !hasResults;
    field(row, "cancel").hidden = ["validating", "in_progress"].indexOf(batch.status) < 0;
  }

  async function cancel(row) {
    const button = field(row, "cancel");
    button.disabled = true;
    try {
      render(await window.App.api("POST", urlFor(table.dataset.cancelUrl, row.dataset.batch)));
    } catch (error) {
      document.getElementById("batches-error").textContent = error.message;
    } finally {
      button.disabled = false;
    }
  }

  async function load() {
    try {
      const page = await window.App.api("GET", table.dataset.listUrl + "?limit=50");
      page.results.slice().reverse().forEach(render);
      document.getElementById("no-batches").hidden = page.results.length > 0;
    } catch (error) {
      document.getElementById("batches-error").textContent = error.message;
    }
  }

  function setUpForm() {
    const form = document.getElementById("batch-form");
    if (!form) return;
    const error = field(form, "error");
    form.addEventListener("submit", async function (event) {
      event.preventDefault();
      error.textContent = "";
      const file = form.elements.file.files[0];
      if (!file) {
        error.textContent = "Choose a CSV or JSONL file of prompts.";
        form.elements.file.focus();
        return;
      }
      const body = new FormData(form);
      if (!form.elements.max_tokens.value) body.delete("max_tokens");
      const button = form.querySelector("button[type=submit]");
      button.disabled = true;
      try {
        render(await window.App.api("POST", form.dataset.createUrl, body));
        form.reset();
      } catch (failure) {
        error.textContent = failure.message;
      } finally {
        button.disabled = false;
      }
    });
  }

  setUpForm();
  load();
  let connectedBefore = false;
  window.App.reconnectingSocket(table.dataset.eventsUrl, {
    // After a reconnect, events sent meanwhile are gone: the list says where things stand.
    open: function () { if (connectedBefore) load(); connectedBefore = true; },
    message: function (data) { if (data.type === "batch.progress") render(data.batch); },
  });
}());
