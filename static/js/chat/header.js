// The conversation's header: model and documents pickers, rename, delete, and the day's token budget.
(function () {
  "use strict";
  const Chat = window.Chat;
  if (!Chat) return;
  const $ = Chat.$;

  async function patchNow(changes) {
    if (!Chat.state.conversationId) return null; // a new conversation takes these when it is created
    try {
      return await window.App.api("PATCH", Chat.urls.conversation(Chat.state.conversationId), changes);
    } catch (error) {
      Chat.showError(error.message);
      return null;
    }
  }

  // PATCHes go out one after another. `changes` may be a function, called when its turn comes: two attached files
  // finishing together each send the whole selection as it is then, so the second cannot undo the first.
  let pending = Promise.resolve();
  function patchConversation(changes) {
    const turn = pending.then(function () {
      return patchNow(typeof changes === "function" ? changes() : changes);
    });
    pending = turn;
    return turn;
  }
  Chat.patchConversation = patchConversation;

  const modelPicker = $("#model-picker");
  if (modelPicker) modelPicker.addEventListener("change", function () { patchConversation({ model: modelPicker.value }); });
  const documentsMode = $("#documents-mode");

  // The conversation answers from `mode` now. "Only the chosen documents" is offered only while it is the mode
  // (choosing it with nothing chosen would be refused); attaching a file makes it the mode.
  Chat.documentsModeChanged = function (mode) {
    if (!documentsMode) return;
    const selected = documentsMode.querySelector('option[value="selected"]');
    if (selected) selected.hidden = mode !== "selected";
    documentsMode.value = mode;
  };

  if (documentsMode) documentsMode.addEventListener("change", async function () {
    const mode = documentsMode.value;
    const updated = await patchConversation({ documents_mode: mode });
    if (!updated) return;
    Chat.documentsModeChanged(updated.documents_mode);
    // All or none: the server let go of the chosen documents, so the attached files are attached no more.
    if (updated.documents_mode !== "selected" && Chat.attachmentsReleased) Chat.attachmentsReleased();
  });

  // Rename in place: the title becomes a text field; Enter saves, Escape cancels.
  function rename() {
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
        if (updated) {
          Chat.handlers.title({ conversation_id: Chat.state.conversationId, title: updated.title || "New conversation" });
        }
      }
      $("#rename").focus();
    }
    field.addEventListener("keydown", function (event) {
      if (event.key === "Enter") { event.preventDefault(); finish(true); }
      if (event.key === "Escape") { event.preventDefault(); finish(false); }
    });
    field.addEventListener("blur", function () { finish(true); });
  }

  async function remove() {
    if (!window.confirm("Delete this conversation and all its messages?")) return;
    try {
      await window.App.api("DELETE", Chat.urls.conversation(Chat.state.conversationId));
      window.location.href = Chat.urls.home;
    } catch (error) {
      Chat.showError(error.message);
    }
  }

  $("#rename").addEventListener("click", rename);
  $("#delete").addEventListener("click", remove);

  Chat.refreshUsage = async function () {
    const meter = $("#usage-meter");
    if (!meter) return;
    try {
      const quota = (await window.App.api("GET", Chat.urls.usage)).quota;
      // The bar shows what is left, like the words beside it: it empties as the day's budget is spent.
      meter.querySelector("progress").max = quota.daily_budget || 1;
      meter.querySelector("progress").value = Math.max(0, quota.remaining);
      meter.querySelector(".usage-text").textContent = quota.remaining.toLocaleString() + " of " +
        quota.daily_budget.toLocaleString() + " tokens left today";
      meter.classList.toggle("usage-low", quota.remaining < quota.daily_budget * 0.1);
    } catch (error) {
      meter.querySelector(".usage-text").textContent = "Usage unavailable";
    }
  };

  // A new conversation was just created: the tools that act on a saved one appear.
  Chat.conversationCreated = function () {
    $("#rename").hidden = false;
    $("#delete").hidden = false;
  };
}());
