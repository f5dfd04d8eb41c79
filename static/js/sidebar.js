// Conversation sidebar: search titles and message text as you type; toggle on narrow screens.
(function () {
  "use strict";
  const search = document.getElementById("conversation-search");
  const list = document.getElementById("conversation-list");
  const toggle = document.getElementById("sidebar-toggle");
  const sidebar = document.getElementById("sidebar");
  if (toggle && sidebar) {
    toggle.addEventListener("click", function () {
      const open = sidebar.classList.toggle("open");
      toggle.setAttribute("aria-expanded", String(open));
    });
  }
  if (!search || !list) return;
  let timer = null;

  function conversationUrl(id) { return list.dataset.conversationUrl.replace(list.dataset.placeholder, id); }

  function render(conversations) {
    list.replaceChildren();
    if (!conversations.length) {
      const empty = document.createElement("li");
      empty.className = "empty";
      empty.textContent = "No conversation matches.";
      list.appendChild(empty);
      return;
    }
    conversations.forEach(function (conversation) {
      const item = document.createElement("li");
      const link = document.createElement("a");
      link.href = conversationUrl(conversation.id);
      link.dataset.id = conversation.id;
      link.textContent = conversation.title || "New conversation";
      // Read now, not at load: a new conversation gets its id on its first send.
      if (conversation.id === list.dataset.current) link.setAttribute("aria-current", "page");
      item.appendChild(link);
      list.appendChild(item);
    });
  }

  search.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(async function () {
      const query = encodeURIComponent(search.value.trim());
      try {
        const url = list.dataset.searchUrl + "?archived=false&limit=50&q=" + query;
        const page = await window.App.api("GET", url);
        render(page.results);
      } catch (error) {
        list.replaceChildren();
      }
    }, 200);
  });
}());
