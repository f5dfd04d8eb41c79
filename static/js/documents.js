// Live ingestion progress on the documents page: events arrive on /ws/events/ as the worker reads each file.
(function () {
  "use strict";
  const table = document.getElementById("documents");
  if (!table) return;
  const labels = { queued: "Queued", extracting: "Extracting text", chunking: "Chunking", embedding: "Embedding",
                   ready: "Ready", failed: "Failed" };

  function update(info) {
    const row = table.querySelector('tr[data-document="' + info.id + '"]');
    if (!row) return;
    const status = row.querySelector('[data-field="status"]');
    status.textContent = labels[info.status] || info.status;
    status.className = "doc-status status-" + info.status;
    row.querySelector('[data-field="progress"]').value = info.progress;
    row.querySelector('[data-field="error"]').textContent = info.error || "";
    row.querySelector('[data-field="pages"]').textContent = info.pages || "—";
    row.querySelector('[data-field="chunk_count"]').textContent = info.chunk_count;
  }

  let delay = 500;
  function connect() {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    const socket = new WebSocket(scheme + location.host + table.dataset.eventsUrl);
    socket.addEventListener("open", function () { delay = 500; });
    socket.addEventListener("message", function (event) {
      const data = JSON.parse(event.data);
      if (data.type === "document.progress") update(data.document);
    });
    socket.addEventListener("close", function () {
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 10000);
    });
  }
  connect();
}());
