// The conversation's socket: each server frame updates the messages shown (docs/websocket.md).
(function () {
  "use strict";
  const Chat = window.Chat;
  if (!Chat) return;
  const render = Chat.render;

  function setStreaming(id) {
    Chat.state.streamingId = id;
    Chat.el.stop.hidden = !id;
    Chat.updateSend();
    render.refreshTools();
  }

  function showMessage(message) {
    const entry = render.messageNode(message);
    render.renderBody(entry);
    render.setStatus(entry, message.status);
    render.renderSources(entry, message.sources);
    if (message.hidden) { render.hide(entry); return; }
    if (message.error) entry.error.textContent = message.error;
    if (message.role === "assistant" && (message.status === "streaming" || message.status === "pending")) {
      Chat.state.streamingId = message.id;
    }
  }

  // A new turn goes after its question's parent: when that is not the last message shown (an edit, a regenerate),
  // the rest of the old branch leaves the page; it stays a version, one click away.
  function placeTurn(question) {
    if (Chat.messages.has(question.id)) render.clearAfter(question.id);
    else if (question.parent_id) render.clearAfter(question.parent_id);
    else render.clear();
  }

  const handlers = {
    history: function (frame) {
      render.clear();
      Chat.state.streamingId = null;
      frame.messages.forEach(showMessage);
      setStreaming(Chat.state.streamingId);
      render.keepScrolled();
    },
    started: function (frame) {
      Chat.state.lastSent = "";
      placeTurn(frame.user_message);
      const user = render.messageNode(frame.user_message);
      render.renderBody(user);
      const answer = render.messageNode(frame.message);
      render.setStatus(answer, "pending");
      render.renderBody(answer);
      setStreaming(frame.message.id);
      render.keepScrolled();
    },
    delta: function (frame) {
      const entry = Chat.messages.get(frame.message_id);
      if (!entry) return;
      const content = entry.message.content || "";
      if (frame.offset <= content.length) {
        // Already have the beginning of this piece (after a reconnect): keep only what is new.
        entry.message.content = content + frame.text.slice(content.length - frame.offset);
      } else {
        entry.message.content = content + frame.text; // a gap: "done" brings the full text
      }
      render.setStatus(entry, "streaming");
      render.scheduleRender(entry);
    },
    web: function (frame) {
      const entry = Chat.messages.get(frame.message_id);
      if (entry) render.renderWeb(entry, frame);
    },
    sources: function (frame) {
      const entry = Chat.messages.get(frame.message_id);
      if (entry) render.renderSources(entry, frame.sources);
    },
    done: function (frame) {
      const entry = Chat.messages.get(frame.message_id);
      if (entry) {
        entry.message.content = frame.content;
        entry.message.cached = frame.cached;
        render.setStatus(entry, frame.status);
        render.renderBody(entry);
        render.renderUsage(entry, frame);
        if (frame.error) entry.error.textContent = frame.error;
      }
      setStreaming(Chat.state.streamingId === frame.message_id ? null : Chat.state.streamingId);
      if (Chat.refreshUsage) Chat.refreshUsage();
      render.keepScrolled();
    },
    error: function (frame) {
      const entry = frame.message_id && Chat.messages.get(frame.message_id);
      if (entry) {
        entry.error.textContent = frame.message;
        return;
      }
      Chat.showError(frame.message);
      // The message was refused before it was recorded (too long, too many, over budget, blocked):
      // give its text back so nothing typed is lost.
      const prompt = Chat.el.prompt;
      if (Chat.state.lastSent && !prompt.value) {
        prompt.value = Chat.state.lastSent;
        prompt.dispatchEvent(new Event("input")); // its link chips come back with it
      }
      Chat.state.lastSent = "";
    },
    hidden: function (frame) {
      const entry = Chat.messages.get(frame.message_id);
      if (entry) render.hide(entry);
    },
    title: function (frame) {
      if (frame.conversation_id !== Chat.state.conversationId) return;
      Chat.$("#conversation-title").textContent = frame.title;
      const link = document.querySelector('#conversation-list a[data-id="' + frame.conversation_id + '"]');
      if (link) link.textContent = frame.title;
    },
  };

  function onState(state) {
    const status = Chat.el.status;
    status.textContent = state === "connected" ? "" : "Connection lost; reconnecting… (your answer keeps going)";
    status.hidden = state === "connected";
    if (state === "connected" && Chat.sendWaiting) Chat.sendWaiting();
  }

  function onClosed(code) {
    const status = Chat.el.status;
    status.hidden = false;
    status.textContent = code === 4401 ? "You are signed out. Sign in again to continue."
      : code === 4404 ? "This conversation no longer exists." : "This conversation is not available to you.";
    Chat.el.send.disabled = true;
  }

  Chat.handlers = handlers;
  Chat.connect = function () {
    Chat.state.socket = window.App.reconnectingSocket(Chat.urls.socket(Chat.state.conversationId), {
      message: function (frame) { if (handlers[frame.type]) handlers[frame.type](frame); },
      state: onState,
      closed: onClosed,
    });
  };
}());
