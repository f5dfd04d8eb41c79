// Files in the composer: attached with the "Attach files" button, dropped anywhere on the conversation or pasted
// into the prompt. Each becomes a chip above the prompt that shows its upload, then its reading (document.progress
// events on /ws/events/), then Ready, or Failed with the server's reason and Retry. The conversation answers from
// exactly its attached files (documents_mode "selected"); × detaches one. Chips of files attached earlier come
// from the server. A message sent while a file is still on its way waits for it (Chat.whenFilesRead).
(function () {
  "use strict";
  const Chat = window.Chat;
  const area = Chat && Chat.$("#attachments");
  if (!area) return;
  const App = window.App;
  const data = area.dataset;
  const list = Chat.$("#attached-files");
  const note = Chat.$("#attach-note");
  const maxBytes = Number(data.maxBytes) || 0; // 0: this role may not upload
  const BUSY = ["uploading", "reading"];
  const items = []; // {name, file, node, status, id, error, detached, controller}
  const latest = new Map(); // document id → its last event: an event can beat the upload's own response
  const waiters = new Set();
  let socket = null;

  const withId = Chat.withId;
  function field(node, name) { return node.querySelector('[data-field="' + name + '"]'); }

  function statusText(item, progress) {
    if (item.status === "uploading") return "Uploading " + progress + "%";
    if (item.status === "ready") return "Ready";
    if (item.status === "refused") return "Not uploaded";
    if (item.status === "failed") return "Failed";
    return item.queued ? "Waiting to be read" : "Reading " + progress + "%";
  }

  function show(item, progress) {
    const node = item.node;
    node.dataset.status = item.status;
    field(node, "status").textContent = statusText(item, progress || 0);
    field(node, "progress").value = progress || 0;
    field(node, "progress").hidden = item.status === "refused";
    // A ready document's text is a note (a limit left part of the file out), not an error.
    field(node, "error").textContent = item.error || "";
    field(node, "error").className = (item.status === "ready" && !item.unsaved ? "help" : "error") + " file-chip-error";
    const retry = node.querySelector('[data-action="retry"]');
    retry.hidden = !(item.status === "failed" || (item.status === "refused" && item.canRetryUpload));
    checkWaiters();
  }

  // A document's state as the API and the events give it.
  function follow(item, info) {
    const status = info.status === "ready" || info.status === "failed" ? info.status : "reading";
    item.status = status;
    item.queued = info.status === "queued";
    item.error = info.error || "";
    show(item, info.progress);
  }

  function labelChip(node, text) {
    field(node, "name").textContent = text;
    field(node, "progress").setAttribute("aria-label", text + ": progress");
    node.querySelector('[data-action="retry"]').setAttribute("aria-label", "Retry " + text);
    node.querySelector('[data-action="detach"]').setAttribute("aria-label", "Detach " + text);
  }

  function newChip(text, size) {
    const node = Chat.$("#file-chip-template").content.firstElementChild.cloneNode(true);
    labelChip(node, text);
    field(node, "size").textContent = App.formatSize(size);
    list.append(node);
    return node;
  }

  // The attached documents, as the conversation should answer from them.
  function attachedIds() {
    return items.filter(function (item) { return item.id && !item.detached; }).map(function (item) { return item.id; });
  }

  // Sends the whole selection at its turn (PATCHes are serialised in header.js): with nothing attached, all the
  // documents the user may read again, as a new conversation starts.
  async function saveSelection() {
    try {
      await Chat.ensureConversation();
    } catch (error) {
      Chat.showError(error.message);
      return false;
    }
    const updated = await Chat.patchConversation(function () {
      const ids = attachedIds();
      return { documents_mode: ids.length ? "selected" : "all", document_ids: ids };
    });
    if (updated) Chat.documentsModeChanged(updated.documents_mode);
    return Boolean(updated);
  }

  // On its way: uploading, being read, or not yet in the conversation's selection (a small file can be read
  // before its PATCH lands, and a message sent then would be answered without it).
  function busy(item) { return BUSY.includes(item.status) || item.saving === true; }

  function listen() {
    if (socket) return;
    socket = App.reconnectingSocket(data.eventsUrl, {
      // Events sent while the socket was down are gone: ask for the state of what is still being read.
      open: function () {
        items.forEach(function (item) {
          if (!item.id || item.status !== "reading") return;
          App.api("GET", withId(data.documentUrl, item.id)).then(function (info) { follow(item, info); },
                                                               function () {});
        });
      },
      message: function (event) {
        if (event.type !== "document.progress") return;
        latest.set(event.document.id, event.document);
        items.forEach(function (item) { if (item.id === event.document.id) follow(item, event.document); });
      },
    });
  }

  function upload(item) {
    item.status = "uploading";
    item.error = "";
    show(item, 0);
    listen();
    item.controller = new AbortController();
    App.uploadFile(data.uploadUrl, item.file, {
      signal: item.controller.signal,
      onProgress: function (percent) { if (item.status === "uploading") show(item, percent); },
    }).then(function (info) { uploaded(item, info); }, function (error) {
      if (error.code === "duplicate" && error.existingId) {
        if (items.some(function (other) { return other.id === error.existingId && !other.detached; })) {
          detach(item); // attached already: one chip is enough
          return;
        }
        // Already in the user's documents: attach that one (it is read already, or being read).
        App.api("GET", withId(data.documentUrl, error.existingId)).then(function (info) {
          item.name = info.title;
          labelChip(item.node, info.title);
          uploaded(item, info);
        }, function (lookup) { refused(item, lookup); });
        return;
      }
      refused(item, error);
    });
  }

  function uploaded(item, info) {
    item.id = info.id;
    if (item.detached) return;
    item.saving = true;
    follow(item, latest.get(info.id) || info);
    saveSelection().then(function (saved) {
      item.saving = false;
      item.unsaved = !saved;
      if (!saved) item.error = "Not attached to the conversation: " + Chat.el.error.textContent;
      show(item, Number(field(item.node, "progress").value));
    });
  }

  function refused(item, error) {
    if (item.detached) return;
    item.status = "refused";
    item.error = error.message;
    item.canRetryUpload = error.status === 0; // not reached: worth another try; a refusal would be refused again
    show(item, 0);
  }

  function attach(file) {
    const item = { name: file.name, file: file, node: newChip(file.name, file.size) };
    items.push(item);
    const tooLarge = App.sizeRefusal(file, maxBytes);
    if (tooLarge) {
      item.status = "refused";
      item.error = tooLarge;
      show(item, 0);
      return;
    }
    // On /chat/ the first file makes the conversation, as a first message would, while the file goes up.
    Chat.ensureConversation().catch(function (error) { Chat.showError(error.message); });
    upload(item);
  }

  function attachAll(files) {
    Chat.showError("");
    Array.from(files || []).forEach(attach);
  }

  function itemOf(node) { return items.find(function (item) { return item.node === node; }); }

  function detach(item) {
    item.detached = true;
    if (item.controller && item.status === "uploading") item.controller.abort();
    item.node.remove();
    checkWaiters();
    if (item.id) saveSelection();
    Chat.el.prompt.focus(); // the button is gone: the focus goes where the user was writing
  }

  async function retry(item) {
    if (!item.id) {
      upload(item); // it never reached the server
      return;
    }
    try {
      follow(item, await App.api("POST", withId(data.retryUrl, item.id)));
    } catch (error) {
      item.error = error.message;
      show(item, 0);
    }
  }

  list.addEventListener("click", function (event) {
    const button = event.target.closest("button[data-action]");
    const item = button && itemOf(button.closest(".file-chip"));
    if (!item) return;
    if (button.dataset.action === "detach") detach(item);
    else retry(item);
  });

  // A message waits until the files on their way when it was sent are read; it is not sent if one of them fails.
  function checkWaiters() {
    let waitingFor = null;
    waiters.forEach(function (waiter) {
      const files = waiter.files.filter(function (item) { return !item.detached; });
      const failed = files.find(function (item) {
        return item.status === "failed" || item.status === "refused" || item.unsaved;
      });
      const onItsWay = files.find(busy);
      if (failed) {
        waiters.delete(waiter);
        waiter.reject(new Error(failed.name + " could not be read (" + (failed.error || "failed") + "). Your " +
          "message was not sent: retry or detach the file, then send it again."));
      } else if (!onItsWay) {
        waiters.delete(waiter);
        waiter.resolve();
      } else {
        waitingFor = waitingFor || onItsWay;
      }
    });
    note.textContent = waitingFor ? "Your message will be sent once " + waitingFor.name + " is read." : "";
  }

  Chat.whenFilesRead = function () {
    const files = items.filter(function (item) { return !item.detached && busy(item); });
    if (!files.length) return Promise.resolve();
    return new Promise(function (resolve, reject) {
      waiters.add({ files: files, resolve: resolve, reject: reject });
      checkWaiters();
    });
  };

  // The header switched to all or no documents: the server let go of the chosen ones.
  Chat.attachmentsReleased = function () {
    items.forEach(function (item) {
      if (!item.id || item.detached) return;
      item.detached = true;
      item.node.remove();
    });
    checkWaiters();
  };

  // Chips the server rendered: files attached to this conversation earlier.
  list.querySelectorAll(".file-chip").forEach(function (node) {
    const item = { name: field(node, "name").textContent, node: node, id: node.dataset.document };
    items.push(item);
    follow(item, { status: node.dataset.status, progress: field(node, "progress").value,
                   error: field(node, "error").textContent });
    if (item.status === "reading") listen();
  });

  if (!maxBytes) return; // this role may not upload: the chips above are all there is

  const picker = Chat.$("#attach-input");
  Chat.$("#attach-files").addEventListener("click", function () { picker.click(); });
  picker.addEventListener("change", function () {
    attachAll(picker.files);
    picker.value = "";
  });

  Chat.el.prompt.addEventListener("paste", function (event) {
    const files = event.clipboardData && event.clipboardData.files;
    if (!files || !files.length) return; // text: pasted as usual
    event.preventDefault();
    attachAll(files);
  });

  // Dropping: the whole conversation is the target; dragenter/leave fire for every child, hence the count.
  const hint = Chat.$("#drop-hint");
  let depth = 0;
  function dragging(on) {
    Chat.root.classList.toggle("dropping", on);
    hint.hidden = !on;
  }
  function carriesFiles(event) {
    return event.dataTransfer && Array.from(event.dataTransfer.types || []).includes("Files");
  }
  Chat.root.addEventListener("dragenter", function (event) {
    if (!carriesFiles(event)) return;
    event.preventDefault();
    depth += 1;
    dragging(true);
  });
  Chat.root.addEventListener("dragover", function (event) { if (carriesFiles(event)) event.preventDefault(); });
  Chat.root.addEventListener("dragleave", function () {
    depth = Math.max(0, depth - 1);
    if (!depth) dragging(false);
  });
  Chat.root.addEventListener("drop", function (event) {
    event.preventDefault();
    depth = 0;
    dragging(false);
    attachAll(event.dataTransfer && event.dataTransfer.files);
  });
  // A file dropped beside the conversation would make the browser open it and leave the chat.
  window.addEventListener("dragover", function (event) { event.preventDefault(); });
  window.addEventListener("drop", function (event) { event.preventDefault(); });
}());
