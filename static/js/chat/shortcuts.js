// Keyboard shortcuts, listed in the help dialog (chat.html): Esc stops the answer being written, Ctrl+K (⌘K)
// searches conversations, "?" outside a text field opens the list. Enter and Shift+Enter live in composer.js.
(function () {
  "use strict";
  const Chat = window.Chat;
  if (!Chat) return;
  const dialog = Chat.$("#shortcuts-help");
  const opener = Chat.$("#shortcuts-open");

  function typing(target) {
    return target.closest("input, textarea, select, [contenteditable='true']") !== null;
  }

  function searchConversations() {
    const toggle = Chat.$("#sidebar-toggle");
    const sidebar = Chat.$("#sidebar");
    // On a phone the sidebar is folded away: open it first, or the field could not take the focus.
    if (toggle && sidebar && getComputedStyle(toggle).display !== "none" && !sidebar.classList.contains("open")) {
      toggle.click();
    }
    const search = Chat.$("#conversation-search");
    search.focus();
    search.select();
  }

  function openHelp() {
    if (!dialog.open) dialog.showModal();
  }

  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.isComposing) return;
    if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === "k") {
      event.preventDefault();
      searchConversations();
    } else if (event.key === "Escape" && Chat.state.streamingId && !dialog.open) {
      event.preventDefault();
      Chat.stop();
    } else if (event.key === "?" && !typing(event.target) && !dialog.open) {
      event.preventDefault();
      openHelp();
    }
  });
  opener.addEventListener("click", openHelp);
}());
