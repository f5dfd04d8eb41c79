// The composer: Enter sends, Shift+Enter adds a line. On a new conversation (/chat/) the first send creates it
// through the REST API, puts its address in the location bar and the sidebar, then opens its socket. A message
// written while attached files are still being read waits for them.
(function () {
  "use strict";
  const Chat = window.Chat;
  if (!Chat) return;
  const $ = Chat.$;
  const prompt = Chat.el.prompt;

  function valueOf(selector) {
    const field = $(selector);
    return field && !field.disabled && field.value ? field.value : undefined;
  }

  function addToSidebar(conversation) {
    const list = $("#conversation-list");
    list.querySelectorAll(".empty").forEach(function (item) { item.remove(); });
    list.querySelectorAll("[aria-current]").forEach(function (link) { link.removeAttribute("aria-current"); });
    const newChat = $(".sidebar .new-chat");
    if (newChat) newChat.removeAttribute("aria-current");
    const link = Chat.element("a", null, conversation.title || "New conversation");
    link.href = Chat.urls.page(conversation.id);
    link.dataset.id = conversation.id;
    link.setAttribute("aria-current", "page");
    const item = Chat.element("li");
    item.appendChild(link);
    list.prepend(item);
    list.dataset.current = conversation.id;
  }

  // The conversation exists from its first send (or its first attached file): the same service the REST API uses
  // creates it.
  async function createConversation() {
    const created = await window.App.api("POST", Chat.urls.create, {
      model: valueOf("#model-picker"),
      documents_mode: valueOf("#documents-mode"),
      preset: valueOf("#new-preset") || null,
    });
    Chat.state.conversationId = created.id;
    Chat.root.dataset.conversationId = created.id;
    history.pushState({ conversation: created.id }, "", Chat.urls.page(created.id));
    const picker = $("#new-preset");
    if (picker) { // the conversation keeps the preset it started with: nothing left to pick
      picker.hidden = true;
      Array.from(picker.labels).forEach(function (label) { label.hidden = true; });
    }
    addToSidebar(created);
    Chat.conversationCreated();
    Chat.connect();
    return created.id;
  }

  // The conversation's id, creating it first on /chat/. A send and an attached file may ask at the same moment:
  // both wait for the one creation (a failed one may be tried again).
  let creating = null;
  Chat.ensureConversation = function () {
    if (Chat.state.conversationId) return Promise.resolve(Chat.state.conversationId);
    if (!creating) {
      creating = createConversation().finally(function () { creating = null; });
    }
    return creating;
  };

  function sent(content) {
    Chat.state.lastSent = content;
    if (prompt.value !== content) return; // the user typed on meanwhile: leave their new text alone
    prompt.value = "";
    prompt.dispatchEvent(new Event("input")); // what follows the text (the link chips) sees it go
  }

  function queue(frame) {
    // Not connected yet (the page just opened, or the conversation was just created) or reconnecting: keep the
    // text and send it the moment the connection is up, rather than asking the user to try again.
    Chat.state.waiting = frame;
    Chat.updateSend();
    Chat.showError("Connecting… your message goes out as soon as the connection is up.");
  }

  Chat.sendWaiting = function () {
    const waiting = Chat.state.waiting;
    if (!waiting || !Chat.send(waiting)) return;
    Chat.state.waiting = null;
    Chat.updateSend();
    Chat.showError("");
    sent(waiting.content);
  };

  // Attached files still uploading or being read (attachments.js): the message waits for them, the composer says
  // so, and it goes out by itself once they are ready. If one fails the text stays, unsent.
  async function filesRead() {
    if (!Chat.whenFilesRead) return true;
    Chat.state.holding = true;
    Chat.updateSend();
    try {
      await Chat.whenFilesRead();
      return true;
    } catch (error) {
      Chat.showError(error.message);
      return false;
    } finally {
      Chat.state.holding = false;
      Chat.updateSend();
    }
  }

  async function submit(event) {
    event.preventDefault();
    if (Chat.state.holding) return; // a message is already waiting for its files
    Chat.showError("");
    const content = prompt.value;
    if (!content.trim()) {
      Chat.showError("Write a message first.");
      prompt.focus();
      return;
    }
    if (!(await filesRead())) return;
    // The cache only ever answers from this user's own earlier answers to the very same conversation so far.
    const frame = { type: "send", content: content, model: valueOf("#model-picker"), cache: true };
    if (!Chat.state.conversationId) {
      Chat.el.send.disabled = true;
      try {
        await Chat.ensureConversation();
      } catch (error) {
        Chat.el.send.disabled = false;
        Chat.showError(error.message);
        return;
      }
    }
    if (Chat.send(frame)) sent(content);
    else queue(frame);
  }

  Chat.el.form.addEventListener("submit", submit);
  prompt.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      Chat.el.form.requestSubmit();
    }
  });
  Chat.stop = function () { if (Chat.state.streamingId) Chat.send({ type: "stop" }); };
  Chat.el.stop.addEventListener("click", Chat.stop);

  if (Chat.el.starters) {
    Chat.el.starters.addEventListener("click", function (event) {
      const button = event.target.closest("button[data-starter]");
      if (!button) return;
      prompt.value = button.textContent;
      prompt.dispatchEvent(new Event("input"));
      Chat.el.form.requestSubmit();
    });
  }

  // Back and forward between conversations (the first send pushes the new one's address): show the one the address
  // names. A change of the #fragment alone (a citation, an in-page link) stays on this page.
  window.addEventListener("popstate", function () {
    const shown = Chat.state.conversationId ? Chat.urls.page(Chat.state.conversationId) : Chat.urls.home;
    if (window.location.pathname !== new URL(shown, window.location.href).pathname) window.location.reload();
  });

  if (Chat.state.conversationId) Chat.connect();
  Chat.refreshUsage();
  prompt.focus();
}());
