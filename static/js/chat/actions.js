// What the buttons on a message do: copy an answer, regenerate it, edit a question and resend, and step through
// versions. Each is one websocket frame (docs/websocket.md); the server's answer redraws the page.
(function () {
  "use strict";
  const Chat = window.Chat;
  if (!Chat) return;

  function entryOf(node) {
    const item = node.closest(".message");
    return item ? Chat.messages.get(item.id.replace("message-", "")) : null;
  }

  function sendOrSay(frame) {
    if (Chat.send(frame)) return true;
    Chat.showError("Not connected; try again in a moment.");
    return false;
  }

  function showVersion(entry, step) {
    const ids = entry.message.versions || [];
    const target = ids[ids.indexOf(entry.message.id) + step];
    if (target) sendOrSay({ type: "select", message_id: target });
  }

  // The question becomes a text field in place; sending it makes a new branch, the old one stays a version.
  function openEditor(entry) {
    const field = document.createElement("textarea");
    field.className = "message-editor";
    field.rows = 3;
    field.value = entry.message.content;
    field.id = "edit-" + entry.message.id;
    const label = Chat.element("label", "visually-hidden", "Edit your message");
    label.htmlFor = field.id;
    const send = Chat.button("Send", "edit-send", "primary");
    const cancel = Chat.button("Cancel", "edit-cancel", "");
    const bar = Chat.element("div", "editor-actions");
    bar.append(cancel, send);
    entry.body.replaceChildren(label, field, bar);
    entry.tools.replaceChildren();
    field.focus();
    field.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        submitEdit(entry);
      } else if (event.key === "Escape") {
        event.preventDefault(); // Esc here closes the editor; it does not stop an answer
        closeEditor(entry);
      }
    });
  }

  function closeEditor(entry) {
    Chat.render.renderBody(entry);
    Chat.render.refreshTools();
  }

  function submitEdit(entry) {
    const field = entry.body.querySelector(".message-editor");
    const content = field.value;
    if (!content.trim()) {
      Chat.showError("Write a message first.");
      field.focus();
      return;
    }
    Chat.showError("");
    if (sendOrSay({ type: "edit", message_id: entry.message.id, content: content })) closeEditor(entry);
  }

  const ACTIONS = {
    copy: function (entry, button) { window.App.copyText(entry.message.content, button); },
    regenerate: function (entry) { sendOrSay({ type: "regenerate", message_id: entry.message.id }); },
    edit: openEditor,
    "edit-send": submitEdit,
    "edit-cancel": closeEditor,
    "version-previous": function (entry) { showVersion(entry, -1); },
    "version-next": function (entry) { showVersion(entry, 1); },
  };

  Chat.el.list.addEventListener("click", function (event) {
    const button = event.target.closest("button[data-action]");
    const entry = button && entryOf(button);
    if (entry && ACTIONS[button.dataset.action]) ACTIONS[button.dataset.action](entry, button);
  });
}());
