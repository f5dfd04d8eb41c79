// The chat page's shared state (window.Chat). One websocket per conversation (protocol: docs/websocket.md); the
// chat/*.js modules each add their part, in the order chat.html loads them, and composer.js starts the page.
// URLs come from the page's data attributes ({% url %} with a placeholder id), never from strings written here.
(function () {
  "use strict";
  const root = document.getElementById("conversation");
  if (!root) return;
  const data = root.dataset;
  const $ = function (selector) { return document.querySelector(selector); };

  function withId(template, id) { return template.replace(data.placeholder, id); }

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function button(label, action, className) {
    const node = element("button", className || "link-button", label);
    node.type = "button";
    node.dataset.action = action;
    return node;
  }

  const Chat = {
    root: root,
    $: $,
    element: element,
    button: button,
    el: {
      list: $("#messages"),
      form: $("#composer"),
      prompt: $("#prompt"),
      send: $("#send"),
      stop: $("#stop"),
      status: $("#connection-status"),
      error: $("#composer-error"),
      starters: $("#starter-prompts"), // a preset's starter prompts, offered until the first message
      intro: $("#chat-intro"),
    },
    state: {
      conversationId: data.conversationId || null, // null until a new conversation's first send creates it
      socket: null,
      streamingId: null,
      lastSent: "",
      waiting: null, // a frame sent before the socket was connected, to go out when it is
      holding: false, // a message waits for its attached files (composer.js)
    },
    messages: new Map(), // message id → entry (chat/messages.js), for the branch shown
    urls: {
      create: data.createUrl,
      usage: data.usageUrl,
      home: data.homeUrl,
      conversation: function (id) { return withId(data.conversationApi, id); },
      page: function (id) { return withId(data.pageUrl, id); },
      socket: function (id) { return withId(data.socketUrl, id); },
      // The reader, scrolled to the cited chunk's passage (marked there with the id chunk-<id>).
      documentRead: function (id, chunkId) {
        const url = withId(data.documentReadUrl, id);
        return chunkId == null ? url : url + "?chunk=" + encodeURIComponent(chunkId) + "#chunk-" + chunkId;
      },
      // The original file; a PDF opens in the browser's viewer at the page (other kinds are downloaded).
      documentOriginal: function (id, page) {
        return withId(data.documentOriginalUrl, id) + (page ? "#page=" + encodeURIComponent(page) : "");
      },
    },
    withId: withId, // a {% url %} made with the placeholder id, for this id
    // Send is off while an answer is written, or while a message waits for its files or for the connection.
    updateSend: function () {
      Chat.el.send.disabled = Boolean(Chat.state.streamingId || Chat.state.holding || Chat.state.waiting);
    },
    // Sends a frame if connected; false otherwise (the caller says so, or queues it).
    send: function (frame) { return Boolean(Chat.state.socket) && Chat.state.socket.send(frame); },
    showError: function (text) { Chat.el.error.textContent = text; },
  };
  window.Chat = Chat;
}());
