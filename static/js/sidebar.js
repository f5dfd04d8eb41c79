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
  const current = list.dataset.current;
  let timer = null;

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
      link.href = "/chat/" + conversation.id + "/";
      link.dataset.id = conversation.id;
      link.textContent = conversation.title || "New conversation";
      if (conversation.id === current) link.setAttribute("aria-current", "page");
      item.appendChild(link);
      list.appendChild(item);
    });
  }

  search.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(async function () {
      const query = encodeURIComponent(search.value.trim());
      try {
        const page = await window.App.api("GET", "/api/v1/conversations/?archived=false&limit=50&q=" + query);
        render(page.results);
      } catch (error) {
        list.replaceChildren();
      }
    }, 200);
  });
}());
