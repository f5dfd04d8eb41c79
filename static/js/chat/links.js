// Links in the message, shown as chips under the attached files while it is written: the pages the server will
// read with the answer. Found with the server's own pattern and limit (documents/webpages.py, from the page's data
// attributes), so the chips name exactly those pages; when the role may not read web pages, the chip says so.
(function () {
  "use strict";
  const Chat = window.Chat;
  const list = Chat && Chat.$("#link-chips");
  if (!list) return;
  const rules = list.dataset;
  const pattern = new RegExp(rules.pattern, "gi"); // the server's is case-insensitive too
  const trailing = rules.trailing || "";
  const max = Number(rules.max) || 0;
  const allowed = rules.allowed === "true";

  // As documents/webpages.py urls_in: in order, trailing punctuation dropped, no duplicates, at most `max`.
  function linksIn(text) {
    const found = [];
    (text.match(pattern) || []).forEach(function (match) {
      let url = match;
      while (url && trailing.includes(url[url.length - 1])) url = url.slice(0, -1);
      if (url && !found.includes(url)) found.push(url);
    });
    return found;
  }

  function chip(url) {
    const item = Chat.element("li", "link-chip" + (allowed ? "" : " link-chip-refused"));
    item.appendChild(Chat.element("span", "link-chip-url", url));
    if (!allowed) item.appendChild(Chat.element("span", "link-chip-note", "not read: your role cannot read web pages"));
    return item;
  }

  let shown = "";
  function update() {
    const found = linksIn(Chat.el.prompt.value);
    const key = found.join("\n");
    if (key === shown) return; // typing elsewhere in the text: leave the chips (and screen readers) alone
    shown = key;
    const chips = found.slice(0, max).map(chip);
    if (found.length > max) {
      chips.push(Chat.element("li", "link-chip-more help",
        (found.length - max) + " more not read: at most " + max + " links a message"));
    }
    list.replaceChildren.apply(list, chips);
  }

  Chat.el.prompt.addEventListener("input", update);
  update();
}());
