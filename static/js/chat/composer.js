// The composer: Enter sends, Shift+Enter adds a line. On a new conversation (/chat/) the first send creates it
// through the REST API, puts its address in the location bar and the sidebar, then opens its socket.
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

  // The conversation exists from its first send: the same service the REST API uses creates it.
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
  }

  function sent(content) {
    Chat.state.lastSent = content;
    prompt.value = "";
  }

  function queue(frame) {
    // Not connected yet (the page just opened, or the conversation was just created) or reconnecting: keep the
    // text and send it the moment the connection is up, rather than asking the user to try again.
    Chat.state.waiting = frame;
    Chat.el.send.disabled = true;
    Chat.showError("Connecting… your message goes out as soon as the connection is up.");
  }

  Chat.sendWaiting = function () {
    const waiting = Chat.state.waiting;
    if (!waiting || !Chat.send(waiting)) return;
    Chat.state.waiting = null;
    Chat.el.send.disabled = false;
    Chat.showError("");
    if (prompt.value === waiting.content) sent(waiting.content);
    else Chat.state.lastSent = waiting.content; // the user typed on meanwhile: leave their new text alone
  };

  async function submit(event) {
    event.preventDefault();
    Chat.showError("");
    const content = prompt.value;
    if (!content.trim()) {
      Chat.showError("Write a message first.");
      prompt.focus();
      return;
    }
    // The cache only ever answers from this user's own earlier answers to the very same conversation so far.
    const frame = { type: "send", content: content, model: valueOf("#model-picker"), cache: true };
    if (!Chat.state.conversationId) {
      Chat.el.send.disabled = true;
      try {
        await createConversation();
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
      Chat.el.form.requestSubmit();
    });
  }

  // Back or forward across the address a first send pushed: show that page as the server renders it.
  window.addEventListener("popstate", function () { window.location.reload(); });

  if (Chat.state.conversationId) Chat.connect();
  Chat.refreshUsage();
  prompt.focus();
}());
