// The documents page. The upload form (#drop-zone) becomes a drop zone with a "Choose files" button: each file
// gets its own row whose bar first shows the upload, then follows ingestion (events on /ws/events/) to "Ready" or
// "Failed" with the reason and a Retry button. Without JavaScript the same form posts the files to the page, and
// Retry is a plain form too.
(function () {
  "use strict";
  const table = document.getElementById("documents");
  if (!table) return;
  const tbody = table.querySelector("tbody");
  const labels = { queued: "Queued", extracting: "Extracting text", chunking: "Chunking", embedding: "Embedding",
                   ready: "Ready", failed: "Failed" };
  const PLACEHOLDER_ID = "00000000-0000-0000-0000-000000000000";
  const PLACEHOLDER_TITLE = "__title__";
  // Events can beat the upload's own response: keep the latest state of each document until its row exists.
  const latest = new Map();

  function field(row, name) { return row.querySelector('[data-field="' + name + '"]'); }

  function showStatus(row, status, text, progress, error) {
    const label = field(row, "status");
    label.textContent = text;
    label.className = "doc-status status-" + status;
    if (progress !== null) field(row, "progress").value = progress;
    field(row, "error").textContent = error || "";
    // A ready document's text is a note (a limit left part of the file out), not an error.
    field(row, "error").className = status === "ready" ? "help" : "error";
    row.dataset.status = status;
  }

  function update(info) {
    latest.set(info.id, info);
    const row = tbody.querySelector('tr[data-document="' + info.id + '"]');
    if (!row) return;
    showStatus(row, info.status, labels[info.status] || info.status, info.progress, info.error);
    field(row, "pages").textContent = info.pages || "—";
    field(row, "chunk_count").textContent = info.chunk_count;
    const retry = field(row, "retry");
    if (retry) retry.hidden = info.status !== "failed";
  }

  function actions(row) { return row.querySelectorAll("form, select, button"); }

  // A new row from the server-rendered <template>: same markup, same forms, ids filled in once known.
  function newRow(file) {
    const template = document.getElementById("document-row-template");
    const row = template.content.firstElementChild.cloneNode(true);
    field(row, "title").textContent = file.name;
    field(row, "title").removeAttribute("href");
    field(row, "file").textContent = file.name + " · " + window.App.formatSize(file.size);
    actions(row).forEach(function (node) { node.hidden = true; });
    tbody.prepend(row);
    table.parentElement.hidden = false;
    document.getElementById("no-documents").hidden = true;
    return row;
  }

  function fillPlaceholders(row, documentInfo) {
    row.querySelectorAll("*").forEach(function (node) {
      Array.from(node.attributes).forEach(function (attribute) {
        const value = attribute.value.split(PLACEHOLDER_ID).join(documentInfo.id)
          .split(PLACEHOLDER_TITLE).join(documentInfo.title);
        if (value !== attribute.value) node.setAttribute(attribute.name, value);
      });
    });
  }

  function adopt(row, documentInfo) {
    // The link's href is gone (removed while uploading): keep the template's, with the placeholder, to fill in.
    const template = document.getElementById("document-row-template").content;
    field(row, "title").setAttribute("href", field(template, "title").getAttribute("href"));
    fillPlaceholders(row, documentInfo);
    row.dataset.document = documentInfo.id;
    field(row, "title").textContent = documentInfo.title;
    actions(row).forEach(function (node) { node.hidden = false; });
    update(latest.get(documentInfo.id) || documentInfo);
  }

  function refuse(row, message) {
    showStatus(row, "failed", "Not uploaded", 0, message);
  }

  function upload(zone, file) {
    const row = newRow(file);
    const tooLarge = window.App.sizeRefusal(file, Number(zone.dataset.maxBytes) || 0);
    if (tooLarge) {
      refuse(row, tooLarge);
      return;
    }
    showStatus(row, "queued", "Uploading 0%", 0, "");
    window.App.uploadFile(zone.dataset.uploadUrl, file, {
      // The upload fills the first 10% of the bar; ingestion reports its own progress from there.
      onProgress: function (percent) {
        showStatus(row, "queued", "Uploading " + percent + "%", Math.round(percent / 10), "");
      },
    }).then(function (documentInfo) { adopt(row, documentInfo); }, function (error) { refuse(row, error.message); });
  }

  function setUpDropZone() {
    const zone = document.getElementById("drop-zone");
    if (!zone) return;
    const picker = zone.querySelector('input[type="file"]');
    zone.querySelectorAll("[data-when-js]").forEach(function (node) { node.hidden = false; });
    zone.querySelectorAll("[data-when-no-js]").forEach(function (node) { node.hidden = true; });
    picker.hidden = true;
    zone.classList.add("drop-zone-live");
    function uploadAll(files) { Array.from(files).forEach(function (file) { upload(zone, file); }); }
    ["dragenter", "dragover"].forEach(function (name) {
      zone.addEventListener(name, function (event) { event.preventDefault(); zone.classList.add("dragging"); });
    });
    ["dragleave", "drop"].forEach(function (name) {
      zone.addEventListener(name, function () { zone.classList.remove("dragging"); });
    });
    zone.addEventListener("drop", function (event) {
      event.preventDefault();
      uploadAll(event.dataTransfer.files);
    });
    zone.addEventListener("submit", function (event) {
      event.preventDefault();
      uploadAll(picker.files);
      picker.value = "";
    });
    document.getElementById("choose-files").addEventListener("click", function () { picker.click(); });
    picker.addEventListener("change", function () {
      uploadAll(picker.files);
      picker.value = "";
    });
    // A file dropped anywhere else on the page would make the browser open it and leave the app.
    window.addEventListener("dragover", function (event) { event.preventDefault(); });
    window.addEventListener("drop", function (event) { event.preventDefault(); });
  }

  // Retry through the API, so the row follows the new attempt live instead of reloading the page.
  function setUpRetry() {
    tbody.addEventListener("submit", function (event) {
      const form = event.target;
      if (form.dataset.field !== "retry") return;
      event.preventDefault();
      const row = form.closest("tr");
      const url = table.dataset.retryUrl.split(PLACEHOLDER_ID).join(row.dataset.document);
      form.hidden = true;
      window.App.api("POST", url).then(update, function (error) {
        form.hidden = false;
        field(row, "error").textContent = error.message;
      });
    });
  }

  function listen() {
    window.App.reconnectingSocket(table.dataset.eventsUrl, {
      message: function (data) { if (data.type === "document.progress") update(data.document); },
    });
  }

  setUpDropZone();
  setUpRetry();
  listen();
}());
