// Rendering the messages of the branch shown: text (Markdown for answers), state, sources, versions ("< 2/3 >")
// and each message's tools. Answers stream in by offset; the server's history and "done" frames are authoritative.
(function () {
  "use strict";
  const Chat = window.Chat;
  if (!Chat) return;
  const element = Chat.element;
  const list = Chat.el.list;
  const STATES = { pending: "thinking…", streaming: "writing…", stopped: "stopped", failed: "failed" };
  const FINISHED = ["complete", "stopped", "failed"];

  function messageNode(message) {
    let entry = Chat.messages.get(message.id);
    if (entry) return entry;
    const item = element("li", "message message-" + message.role);
    item.id = "message-" + message.id;
    const meta = element("div", "message-meta");
    meta.appendChild(element("span", "message-author", message.role === "user" ? "You" : "Assistant"));
    const versions = element("span", "message-versions");
    const state = element("span", "message-state");
    meta.append(versions, state);
    const body = element("div", "message-body");
    const web = element("ul", "message-web");
    // The sources panel: closed, so a long list does not push the next message away; a citation opens it.
    const panel = element("details", "message-sources-panel");
    panel.hidden = true;
    const summary = element("summary", "message-sources-summary");
    const sources = element("ol", "message-sources");
    sources.setAttribute("aria-label", "Sources");
    panel.append(summary, sources);
    const error = element("p", "message-error");
    error.setAttribute("role", "alert");
    const usage = element("p", "message-usage");
    const tools = element("div", "message-tools");
    const rating = element("div", "message-rating");
    item.append(meta, body, web, panel, error, usage, tools, rating);
    list.appendChild(item);
    if (Chat.el.starters) Chat.el.starters.hidden = true;
    if (Chat.el.intro) Chat.el.intro.hidden = true;
    entry = { message: message, item: item, body: body, state: state, versions: versions, web: web,
              panel: panel, summary: summary, sources: sources, error: error, usage: usage, tools: tools,
              rating: rating, pending: false };
    Chat.messages.set(message.id, entry);
    renderVersions(entry);
    return entry;
  }

  function renderBody(entry) {
    entry.pending = false;
    const message = entry.message;
    entry.body.replaceChildren();
    if (message.role === "user") {
      entry.body.appendChild(element("p", "user-text", message.content));
      return;
    }
    entry.body.appendChild(window.SafeMarkdown.render(message.content || "", {
      citationTarget: function (n) { return "source-" + message.id + "-" + n; },
    }));
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
    const badge = element("span", "message-cached", "cached");
    badge.title = "The same question got this answer before; no model tokens were used.";
    entry.state.after(badge, Chat.button("regenerate fresh", "regenerate", "link-button message-fresh"));
  }

  // "< 2/3 >" on a message with other versions (regenerated answers, edited questions); the buttons ask the server
  // to show that version's branch (chat/actions.js).
  function renderVersions(entry) {
    const ids = entry.message.versions || [entry.message.id];
    entry.versions.replaceChildren();
    if (ids.length < 2) return;
    const index = ids.indexOf(entry.message.id);
    const what = entry.message.role === "user" ? "question" : "answer";
    const previous = Chat.button("‹", "version-previous", "version-button");
    previous.setAttribute("aria-label", "Previous version of this " + what);
    previous.disabled = index <= 0;
    const next = Chat.button("›", "version-next", "version-button");
    next.setAttribute("aria-label", "Next version of this " + what);
    next.disabled = index >= ids.length - 1;
    const label = element("span", "version-label", (index + 1) + "/" + ids.length);
    label.setAttribute("aria-label", "version " + (index + 1) + " of " + ids.length);
    entry.versions.append(previous, label, next);
  }

  function hide(entry) {
    entry.message.hidden = true;
    entry.message.content = "";
    entry.item.dataset.hidden = "true";
    entry.body.replaceChildren(element("p", "hidden-note", "This message was hidden by a moderator."));
    [entry.sources, entry.web, entry.rating, entry.error, entry.tools].forEach(function (node) {
      node.replaceChildren();
    });
    entry.panel.hidden = true;
  }

  // Each source: its title (a document's opens the reader at the cited passage), where it is (page, section or
  // site), the snippet, and for a document page a link to the original there. Text only through textContent.
  function renderSources(entry, sources) {
    const sorted = (sources || []).slice().sort(function (a, b) { return a.number - b.number; });
    entry.sources.replaceChildren();
    sorted.forEach(function (source) {
      const item = element("li", "source source-" + (source.kind === "web" ? "web" : "document"));
      item.id = "source-" + entry.message.id + "-" + source.number;
      item.value = source.number;
      item.append(sourceTitle(source));
      const where = sourceWhere(source);
      if (where) item.append(" ", element("span", "source-where", where));
      if (source.snippet) item.appendChild(element("q", "source-snippet", source.snippet));
      if (source.kind !== "web" && source.page) item.appendChild(originalLink(source));
      entry.sources.appendChild(item);
    });
    entry.summary.textContent = "Sources (" + sorted.length + ")";
    entry.panel.hidden = sorted.length === 0;
  }

  function sourceTitle(source) {
    const anchor = element("a", "source-title", source.title);
    if (source.kind === "web") {
      if (/^https?:\/\//i.test(source.url || "")) anchor.href = source.url; // only what the web fetcher reads
      anchor.rel = "noopener noreferrer nofollow";
      anchor.target = "_blank";
    } else {
      anchor.href = Chat.urls.documentRead(source.document_id, source.chunk_id);
    }
    return anchor;
  }

  function sourceWhere(source) {
    if (source.kind === "web") {
      try { return new URL(source.url).host; } catch (error) { return ""; }
    }
    return [source.page ? "page " + source.page : "", source.heading_path || ""].filter(Boolean).join(" · ");
  }

  // Worded "PDF" only when the source says it is one (sources saved before they named their kind do not).
  function originalLink(source) {
    const what = source.document_kind === "pdf" ? "the PDF" : "the original";
    const anchor = element("a", "source-original", "Open " + what + " at page " + source.page);
    anchor.href = Chat.urls.documentOriginal(source.document_id, source.page);
    return anchor;
  }

  // A citation [n] points into the panel: open it and bring its source into view. Done here rather than by the
  // browser's fragment navigation, which cannot reach a source inside a closed panel.
  list.addEventListener("click", function (event) {
    const link = event.target.closest ? event.target.closest("a.citation") : null;
    if (!link) return;
    event.preventDefault(); // also for a [n] the answer has no source for: nothing to show, and no reload
    const target = document.getElementById(decodeURIComponent(link.hash.slice(1)));
    const panel = target && target.closest("details.message-sources-panel");
    if (!panel) return;
    panel.open = true;
    target.tabIndex = -1; // focusable, so keyboard and screen-reader users land on the source too
    target.scrollIntoView({ block: "center" });
    target.focus({ preventScroll: true });
    history.replaceState(history.state, "", link.hash);
  });

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
    if (frame.time_to_first_token_ms != null) {
      parts.push("first token after " + Math.round(frame.time_to_first_token_ms) + " ms");
    }
    entry.usage.textContent = parts.join(" · ");
  }

  // Each message's tools for its state: copy a finished answer, regenerate the last one, edit a question. None
  // while an answer is being written (one answer at a time per conversation).
  function refreshTools() {
    const busy = Boolean(Chat.state.streamingId);
    const entries = Array.from(Chat.messages.values());
    const last = entries[entries.length - 1];
    entries.forEach(function (entry) {
      const message = entry.message;
      entry.tools.replaceChildren();
      if (message.hidden || entry.item.querySelector(".message-editor")) return;
      if (message.role === "assistant" && FINISHED.includes(message.status) && message.content) {
        entry.tools.appendChild(Chat.button("Copy", "copy", "tool-button"));
      }
      if (busy) return;
      if (message.role === "assistant" && entry === last) {
        entry.tools.appendChild(Chat.button("Regenerate", "regenerate", "tool-button"));
      }
      if (message.role === "user") entry.tools.appendChild(Chat.button("Edit", "edit", "tool-button"));
    });
  }

  // A branch starts after ``id`` (null: from the root): what the page showed after it belongs to another branch.
  function clearAfter(id) {
    const keep = id ? document.getElementById("message-" + id) : null;
    if (id && !keep) return;
    Array.from(list.children).forEach(function (item) {
      if (keep && !(keep.compareDocumentPosition(item) & Node.DOCUMENT_POSITION_FOLLOWING)) return;
      Chat.messages.delete(item.id.replace("message-", ""));
      item.remove();
    });
  }

  function clear() {
    list.replaceChildren();
    Chat.messages.clear();
  }

  Chat.render = {
    messageNode: messageNode, renderBody: renderBody, scheduleRender: scheduleRender, keepScrolled: keepScrolled,
    setStatus: setStatus, renderVersions: renderVersions, hide: hide, renderSources: renderSources,
    renderWeb: renderWeb, renderUsage: renderUsage, refreshTools: refreshTools, clearAfter: clearAfter, clear: clear,
  };
}());
