// The chat page: one websocket per conversation (protocol: docs/websocket.md). Answers stream in by offset, so a
// reconnect or a second tab merges cleanly; the server's history and "done" frames are always authoritative.
(function () {
  "use strict";
  const root = document.getElementById("conversation");
  if (!root) return;
  const conversationId = root.dataset.conversationId;
  const $ = function (selector) { return document.querySelector(selector); };
  const list = $("#messages");
  const form = $("#composer");
  const prompt = $("#prompt");
  const sendButton = $("#send");
  const stopButton = $("#stop");
  const status = $("#connection-status");
  const composerError = $("#composer-error");
  const starters = $("#starter-prompts"); // a preset's starter prompts, offered until the first message
  const messages = new Map();
  let streamingId = null;
  let socket = null;
  let lastSent = "";
  let waiting = null; // a message sent before the socket was connected, to go out when it is

  // --- rendering -------------------------------------------------------------------------------------------------

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function messageNode(message) {
    let entry = messages.get(message.id);
    if (entry) return entry;
    const item = element("li", "message message-" + message.role);
    item.id = "message-" + message.id;
    const meta = element("div", "message-meta");
    meta.appendChild(element("span", "message-author", message.role === "user" ? "You" : "Assistant"));
    const state = element("span", "message-state");
    meta.appendChild(state);
    item.appendChild(meta);
    const body = element("div", "message-body");
    item.appendChild(body);
    const web = element("ul", "message-web");
    const sources = element("ol", "message-sources");
    sources.setAttribute("aria-label", "Sources");
    const error = element("p", "message-error");
    error.setAttribute("role", "alert");
    const usage = element("p", "message-usage");
    const rating = element("div", "message-rating");
    [web, sources, error, usage, rating].forEach(function (node) { item.appendChild(node); });
    list.appendChild(item);
    if (starters) starters.hidden = true;
    entry = { message: message, item: item, body: body, state: state, web: web, sources: sources, error: error,
              usage: usage, rating: rating, pending: false };
    messages.set(message.id, entry);
    return entry;
  }

  function renderBody(entry) {
    entry.pending = false;
    const message = entry.message;
    entry.body.replaceChildren();
    if (message.role === "user") {
      entry.body.appendChild(element("p", "user-text", message.content));
    } else {
      entry.body.appendChild(window.SafeMarkdown.render(message.content || "", {
        citationTarget: function (n) { return "source-" + message.id + "-" + n; },
      }));
    }
  }

  // A streaming answer is rendered whole again for each new piece, at most once a frame. Rendering grows with the
  // answer (about 2 ms per KB here), so a long one waits a few render-times between frames: typing stays smooth.
  let renderCost = 0;
  function scheduleRender(entry) {
    if (entry.pending) return;
    entry.pending = true;
    const draw = function () {
      requestAnimationFrame(function () {
        if (!entry.pending) return; // a final render came first
        const started = performance.now();
        renderBody(entry);
        renderCost = performance.now() - started;
        keepScrolled();
      });
    };
    if (renderCost > 8) setTimeout(draw, Math.min(3 * renderCost, 400)); else draw();
  }

  function keepScrolled() {
    const nearBottom = window.innerHeight + window.scrollY >= document.body.scrollHeight - 160;
    if (nearBottom) window.scrollTo(0, document.body.scrollHeight);
  }

  const STATES = { pending: "thinking…", streaming: "writing…", stopped: "stopped", failed: "failed" };

  function setStatus(entry, value) {
    entry.message.status = value;
    entry.state.textContent = STATES[value] || "";
    entry.item.dataset.status = value;
    const finished = value === "complete" || value === "stopped";
    if (finished && entry.message.role === "assistant" && !entry.message.hidden) {
      window.Ratings.attach(entry.rating, entry.message.id, entry.message.rating);
    }
    if (finished && entry.message.cached) markCached(entry);
  }

  // An answer served from the cache of the user's own earlier answers: say so, and offer a fresh one.
  function markCached(entry) {
    if (entry.item.querySelector(".message-cached")) return;
    const meta = entry.item.querySelector(".message-meta");
    const badge = element("span", "message-cached", "cached");
    badge.title = "The same question got this answer before; no model tokens were used.";
    meta.appendChild(badge);
    const question = entry.item.previousElementSibling;
    const asked = question && messages.get(question.id.replace("message-", ""));
    if (!asked || asked.message.role !== "user") return;
    const fresh = element("button", "link-button message-fresh", "regenerate fresh");
    fresh.type = "button";
    fresh.addEventListener("click", function () {
      if (!socket.send({ type: "send", content: asked.message.content, cache: false })) {
        composerError.textContent = "Not connected; try again in a moment.";
      }
    });
    meta.appendChild(fresh);
  }

  function hide(entry) {
    entry.message.hidden = true;
    entry.message.content = "";
    entry.item.dataset.hidden = "true";
    entry.body.replaceChildren(element("p", "hidden-note", "This message was hidden by a moderator."));
    [entry.sources, entry.web, entry.rating, entry.error].forEach(function (node) { node.replaceChildren(); });
  }

  function renderSources(entry, sources) {
    entry.sources.replaceChildren();
    (sources || []).slice().sort(function (a, b) { return a.number - b.number; }).forEach(function (source) {
      const item = element("li");
      item.id = "source-" + entry.message.id + "-" + source.number;
      item.value = source.number;
      const href = source.kind === "web" ? source.url : "/documents/" + source.document_id + "/download/";
      const anchor = element("a", null, source.title);
      anchor.href = href;
      if (source.kind === "web") { anchor.rel = "noopener noreferrer nofollow"; anchor.target = "_blank"; }
      item.appendChild(anchor);
      if (source.page) item.appendChild(document.createTextNode(", page " + source.page));
      if (source.snippet) item.appendChild(element("q", "source-snippet", source.snippet));
      entry.sources.appendChild(item);
    });
  }

  function renderWeb(entry, frame) {
    entry.web.replaceChildren();
    frame.pages.forEach(function (page) {
      entry.web.appendChild(element("li", "web-read", "Read " + page.title + " (" + page.url + ")"));
    });
    frame.unusable.forEach(function (link) {
      entry.web.appendChild(element("li", "web-unusable", "Could not use " + link.url + ": " + link.message));
    });
  }

  function renderUsage(entry, frame) {
    if (!frame.usage) return;
    const parts = [frame.usage.total_tokens + " tokens"];
    if (frame.time_to_first_token_ms != null) parts.push("first token after " + Math.round(frame.time_to_first_token_ms) + " ms");
    entry.usage.textContent = parts.join(" · ");
  }

  function setStreaming(id) {
    streamingId = id;
    stopButton.hidden = !id;
    sendButton.disabled = Boolean(id);
  }

  // --- frames ----------------------------------------------------------------------------------------------------

  const handlers = {
    history: function (frame) {
      list.replaceChildren();
      messages.clear();
      setStreaming(null);
      frame.messages.forEach(function (message) {
        const entry = messageNode(message);
        renderBody(entry);
        setStatus(entry, message.status);
        renderSources(entry, message.sources);
        if (message.hidden) { hide(entry); return; }
        if (message.error) entry.error.textContent = message.error;
        if (message.role === "assistant" && (message.status === "streaming" || message.status === "pending")) {
          setStreaming(message.id);
        }
      });
      keepScrolled();
    },
    started: function (frame) {
      lastSent = "";
      const user = messageNode(frame.user_message);
      renderBody(user);
      const answer = messageNode(frame.message);
      setStatus(answer, "pending");
      renderBody(answer);
      setStreaming(frame.message.id);
      keepScrolled();
    },
    delta: function (frame) {
      const entry = messages.get(frame.message_id);
      if (!entry) return;
      const content = entry.message.content || "";
      if (frame.offset <= content.length) {
        // Already have the beginning of this piece (after a reconnect): keep only what is new.
        entry.message.content = content + frame.text.slice(content.length - frame.offset);
      } else {
        entry.message.content = content + frame.text; // a gap: "done" brings the full text
      }
      setStatus(entry, "streaming");
      scheduleRender(entry);
    },
    web: function (frame) {
      const entry = messages.get(frame.message_id);
      if (entry) renderWeb(entry, frame);
    },
    sources: function (frame) {
      const entry = messages.get(frame.message_id);
      if (entry) renderSources(entry, frame.sources);
    },
    done: function (frame) {
      const entry = messages.get(frame.message_id);
      if (entry) {
        entry.message.content = frame.content;
        entry.message.cached = frame.cached;
        setStatus(entry, frame.status);
        renderBody(entry);
        renderUsage(entry, frame);
        if (frame.error) entry.error.textContent = frame.error;
      }
      if (streamingId === frame.message_id) setStreaming(null);
      refreshUsage();
      keepScrolled();
    },
    error: function (frame) {
      const entry = frame.message_id && messages.get(frame.message_id);
      if (entry) {
        entry.error.textContent = frame.message;
        return;
      }
      composerError.textContent = frame.message;
      // The message was refused before it was recorded (too long, too many, over budget, blocked):
      // give its text back so nothing typed is lost.
      if (lastSent && !prompt.value) prompt.value = lastSent;
      lastSent = "";
    },
    hidden: function (frame) {
      const entry = messages.get(frame.message_id);
      if (entry) hide(entry);
    },
    title: function (frame) {
      if (frame.conversation_id !== conversationId) return;
      $("#conversation-title").textContent = frame.title;
      const link = document.querySelector('#conversation-list a[data-id="' + conversationId + '"]');
      if (link) link.textContent = frame.title;
    },
  };

  function connect() {
    socket = window.App.reconnectingSocket("/ws/chat/" + conversationId + "/", {
      message: function (frame) { if (handlers[frame.type]) handlers[frame.type](frame); },
      state: function (state) {
        status.textContent = state === "connected" ? "" : "Connection lost; reconnecting… (your answer keeps going)";
        status.hidden = state === "connected";
        if (state === "connected") sendWaiting();
      },
      closed: function (code) {
        status.hidden = false;
        status.textContent = code === 4401 ? "You are signed out. Sign in again to continue."
          : code === 4404 ? "This conversation no longer exists." : "This conversation is not available to you.";
        sendButton.disabled = true;
      },
    });
  }

  // --- actions ---------------------------------------------------------------------------------------------------

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    composerError.textContent = "";
    const content = prompt.value;
    if (!content.trim()) {
      composerError.textContent = "Write a message first.";
      prompt.focus();
      return;
    }
    const model = $("#model-picker");
    // The cache only ever answers from this user's own earlier answers to the very same conversation so far.
    const frame = { type: "send", content: content, model: model ? model.value : undefined, cache: true };
    if (!socket.send(frame)) {
      // Not connected yet (the page just opened) or reconnecting: keep the text and send it the moment the
      // connection is up, rather than asking the user to try again.
      waiting = frame;
      sendButton.disabled = true;
      composerError.textContent = "Connecting… your message goes out as soon as the connection is up.";
      return;
    }
    sent(content);
  });

  function sent(content) {
    lastSent = content;
    prompt.value = "";
  }

  function sendWaiting() {
    if (!waiting || !socket.send(waiting)) return;
    const content = waiting.content;
    waiting = null;
    sendButton.disabled = false;
    composerError.textContent = "";
    if (prompt.value === content) sent(content);
    else lastSent = content;  // the user typed on meanwhile: leave their new text alone
  }

  prompt.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });

  stopButton.addEventListener("click", function () { socket.send({ type: "stop" }); });

  if (starters) {
    starters.addEventListener("click", function (event) {
      const button = event.target.closest("button[data-starter]");
      if (!button) return;
      prompt.value = button.textContent;
      form.requestSubmit();
    });
  }

  async function patchConversation(changes) {
    try {
      return await window.App.api("PATCH", "/api/v1/conversations/" + conversationId + "/", changes);
    } catch (error) {
      composerError.textContent = error.message;
      return null;
    }
  }

  const modelPicker = $("#model-picker");
  if (modelPicker) modelPicker.addEventListener("change", function () { patchConversation({ model: modelPicker.value }); });
  const documentsMode = $("#documents-mode");
  if (documentsMode) documentsMode.addEventListener("change", function () {
    patchConversation({ documents_mode: documentsMode.value });
  });

  // Rename in place: the title becomes a text field; Enter saves, Escape cancels.
  $("#rename").addEventListener("click", function () {
    const heading = $("#conversation-title");
    if (heading.querySelector("input")) return;
    const previous = heading.textContent.trim();
    const field = document.createElement("input");
    field.type = "text";
    field.value = previous;
    field.maxLength = 200;
    field.className = "title-field";
    field.setAttribute("aria-label", "Conversation title");
    heading.replaceChildren(field);
    field.focus();
    field.select();
    let finished = false;
    async function finish(save) {
      if (finished) return;
      finished = true;
      const title = field.value.trim();
      heading.textContent = previous;
      if (save && title && title !== previous) {
        const updated = await patchConversation({ title: title });
        if (updated) handlers.title({ conversation_id: conversationId, title: updated.title || "New conversation" });
      }
      $("#rename").focus();
    }
    field.addEventListener("keydown", function (event) {
      if (event.key === "Enter") { event.preventDefault(); finish(true); }
      if (event.key === "Escape") { event.preventDefault(); finish(false); }
    });
    field.addEventListener("blur", function () { finish(true); });
  });

  $("#delete").addEventListener("click", async function () {
    if (!window.confirm("Delete this conversation and all its messages?")) return;
    try {
      await window.App.api("DELETE", "/api/v1/conversations/" + conversationId + "/");
      window.location.href = "/chat/";
    } catch (error) {
      composerError.textContent = error.message;
    }
  });

  async function refreshUsage() {
    const meter = $("#usage-meter");
    if (!meter) return;
    try {
      const quota = (await window.App.api("GET", "/api/v1/usage/")).quota;
      // The bar shows what is left, like the words beside it: it empties as the day's budget is spent.
      meter.querySelector("progress").max = quota.daily_budget || 1;
      meter.querySelector("progress").value = Math.max(0, quota.remaining);
      meter.querySelector(".usage-text").textContent = quota.remaining.toLocaleString() + " of " +
        quota.daily_budget.toLocaleString() + " tokens left today";
      meter.classList.toggle("usage-low", quota.remaining < quota.daily_budget * 0.1);
    } catch (error) {
      meter.querySelector(".usage-text").textContent = "Usage unavailable";
    }
  }

  connect();
  refreshUsage();
  prompt.focus();
}());
