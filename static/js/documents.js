// The documents page: drag-and-drop uploads with one progress bar per file that first shows the upload, then
// follows ingestion (events on /ws/events/) to "Ready" or "Failed" with the reason. Without JavaScript the plain
// upload form still works; with it, the form becomes the drop zone's fallback for one file with a title.
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
  }

  function formatSize(bytes) {
    if (bytes < 1024) return bytes + " bytes";
    if (bytes < 1024 * 1024) return (bytes / 1024).toFixed(1) + " KB";
    return (bytes / 1024 / 1024).toFixed(1) + " MB";
  }

  // A new row from the server-rendered <template>: same markup, same forms, ids filled in once known.
  function newRow(file) {
    const template = document.getElementById("document-row-template");
    const row = template.content.firstElementChild.cloneNode(true);
    field(row, "title").textContent = file.name;
    field(row, "title").removeAttribute("href");
    field(row, "file").textContent = file.name + " · " + formatSize(file.size);
    row.querySelectorAll("form, select, button").forEach(function (node) { node.hidden = true; });
    tbody.prepend(row);
    table.parentElement.hidden = false;
    document.getElementById("no-documents").hidden = true;
    return row;
  }

  function adopt(row, documentInfo) {
    row.querySelectorAll("*").forEach(function (node) {
      Array.from(node.attributes).forEach(function (attribute) {
        const value = attribute.value.split(PLACEHOLDER_ID).join(documentInfo.id)
          .split(PLACEHOLDER_TITLE).join(documentInfo.title);
        if (value !== attribute.value) node.setAttribute(attribute.name, value);
      });
    });
    row.dataset.document = documentInfo.id;
    field(row, "title").textContent = documentInfo.title;
    field(row, "title").setAttribute("href", "/documents/" + documentInfo.id + "/download/");
    row.querySelectorAll("form, select, button").forEach(function (node) { node.hidden = false; });
    update(latest.get(documentInfo.id) || documentInfo);
  }

  function upload(zone, file) {
    const row = newRow(file);
    const maxBytes = Number(zone.dataset.maxBytes) || 0;
    if (maxBytes && file.size > maxBytes) {
      showStatus(row, "failed", "Not uploaded", 0, "Larger than your limit of " + formatSize(maxBytes) + ".");
      return;
    }
    showStatus(row, "queued", "Uploading 0%", 0, "");
    const body = new FormData();
    body.append("file", file);
    const request = new XMLHttpRequest();
    request.open("POST", zone.dataset.uploadUrl);
    request.setRequestHeader("X-CSRFToken", window.App.csrfToken());
    request.responseType = "json";
    request.upload.addEventListener("progress", function (event) {
      if (!event.lengthComputable) return;
      const percent = Math.round((event.loaded / event.total) * 100);
      // The upload fills the first 10% of the bar; ingestion reports its own progress from there.
      showStatus(row, "queued", "Uploading " + percent + "%", Math.round(percent / 10), "");
    });
    request.addEventListener("load", function () {
      const data = request.response || {};
      if (request.status === 201) {
        adopt(row, data);
        return;
      }
      const message = (data.error && data.error.message) || "The upload was refused (" + request.status + ").";
      showStatus(row, "failed", "Not uploaded", 0, message);
    });
    request.addEventListener("error", function () {
      showStatus(row, "failed", "Not uploaded", 0, "The server could not be reached. Check your connection.");
    });
    request.send(body);
  }

  function setUpDropZone() {
    const zone = document.getElementById("drop-zone");
    if (!zone) return;
    const picker = document.getElementById("drop-files");
    zone.hidden = false;
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
    document.getElementById("choose-files").addEventListener("click", function () { picker.click(); });
    picker.addEventListener("change", function () {
      uploadAll(picker.files);
      picker.value = "";
    });
    // A file dropped anywhere else on the page would make the browser open it and leave the app.
    window.addEventListener("dragover", function (event) { event.preventDefault(); });
    window.addEventListener("drop", function (event) { event.preventDefault(); });
  }

  function listen() {
    window.App.reconnectingSocket(table.dataset.eventsUrl, {
      message: function (data) { if (data.type === "document.progress") update(data.document); },
    });
  }

  setUpDropZone();
  listen();
}());
