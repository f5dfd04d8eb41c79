// Markdown to DOM, safe by construction: every piece of text goes in through textContent, never innerHTML, so
// model output can contain <script>, onerror=, or anything else and it stays text. Links keep only http(s) and
// in-page targets; images are never loaded (an image becomes a link to it), so no answer can make the browser
// fetch an outside resource on its own.
(function (global) {
  "use strict";

  const SAFE_URL = /^(https?:\/\/|\/(?!\/)|#)/i;

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function link(href, label) {
    if (!SAFE_URL.test(href.trim())) return document.createTextNode(label);
    const a = el("a", null, label);
    a.href = href.trim();
    if (!href.startsWith("#")) {
      a.rel = "noopener noreferrer nofollow";
      a.target = "_blank";
    }
    return a;
  }

  // Inline: `code`, **bold**, *em* / _em_, [text](url), ![alt](url), bare URLs, and [n] citations.
  const INLINE = /(`[^`\n]+`)|(\*\*[^*\n]+\*\*)|(\*[^*\s][^*\n]*\*|\b_[^_\n]+_\b)|(!?\[[^\]\n]*\]\([^)\s]*\))|(https?:\/\/[^\s<>)\]]+)|(\[\d{1,2}\])/g;

  function inline(text, parent, options) {
    let last = 0;
    for (const match of text.matchAll(INLINE)) {
      if (match.index > last) parent.appendChild(document.createTextNode(text.slice(last, match.index)));
      const token = match[0];
      if (match[1]) {
        parent.appendChild(el("code", null, token.slice(1, -1)));
      } else if (match[2]) {
        const strong = el("strong");
        inline(token.slice(2, -2), strong, options);
        parent.appendChild(strong);
      } else if (match[3]) {
        const em = el("em");
        inline(token.slice(1, -1), em, options);
        parent.appendChild(em);
      } else if (match[4]) {
        const image = token.startsWith("!");
        const label = token.slice(image ? 2 : 1, token.indexOf("]("));
        const href = token.slice(token.indexOf("](") + 2, -1);
        parent.appendChild(link(href, image ? (label || "image") + " (image not shown)" : label || href));
      } else if (match[5]) {
        parent.appendChild(link(token, token));
      } else if (match[6]) {
        const number = token.slice(1, -1);
        const target = options.citationTarget ? options.citationTarget(number) : null;
        parent.appendChild(target ? link("#" + target, token) : document.createTextNode(token));
      }
      last = match.index + token.length;
    }
    if (last < text.length) parent.appendChild(document.createTextNode(text.slice(last)));
  }

  function codeBlock(language, code) {
    const wrapper = el("div", "code-block");
    const bar = el("div", "code-bar");
    bar.appendChild(el("span", "code-language", language || "text"));
    const copy = el("button", "copy-code", "Copy");
    copy.type = "button";
    copy.setAttribute("aria-label", "Copy code to the clipboard");
    copy.addEventListener("click", function () { global.App.copyText(code, copy); });
    bar.appendChild(copy);
    wrapper.appendChild(bar);
    const pre = el("pre");
    pre.appendChild(el("code", null, code));
    pre.tabIndex = 0; // long lines scroll: make the block reachable by keyboard
    wrapper.appendChild(pre);
    return wrapper;
  }

  function render(source, options) {
    options = options || {};
    const root = document.createDocumentFragment();
    const lines = source.replace(/\r\n?/g, "\n").split("\n");
    let i = 0;
    while (i < lines.length) {
      const line = lines[i];
      const fence = line.match(/^\s*(```|~~~)\s*([\w+-]*)/);
      if (fence) {
        const body = [];
        i += 1;
        while (i < lines.length && !lines[i].trim().startsWith(fence[1])) body.push(lines[i++]);
        i += 1; // closing fence (or the end of a still-streaming answer)
        root.appendChild(codeBlock(fence[2], body.join("\n")));
        continue;
      }
      const heading = line.match(/^(#{1,6})\s+(.*)$/);
      if (heading) {
        const h = el("h" + Math.min(6, heading[1].length + 2)); // answers' headings sit under the page's
        inline(heading[2], h, options);
        root.appendChild(h);
        i += 1;
        continue;
      }
      if (/^\s*([-*+]|\d+[.)])\s+/.test(line)) {
        const ordered = /^\s*\d+[.)]/.test(line);
        const list = el(ordered ? "ol" : "ul");
        while (i < lines.length && /^\s*([-*+]|\d+[.)])\s+/.test(lines[i])) {
          const item = el("li");
          inline(lines[i].replace(/^\s*([-*+]|\d+[.)])\s+/, ""), item, options);
          list.appendChild(item);
          i += 1;
        }
        root.appendChild(list);
        continue;
      }
      if (/^\s*>/.test(line)) {
        const quote = el("blockquote");
        const body = [];
        while (i < lines.length && /^\s*>/.test(lines[i])) body.push(lines[i++].replace(/^\s*>\s?/, ""));
        quote.appendChild(render(body.join("\n"), options));
        root.appendChild(quote);
        continue;
      }
      if (!line.trim()) {
        i += 1;
        continue;
      }
      const paragraph = el("p");
      const body = [];
      while (i < lines.length && lines[i].trim() && !/^(#{1,6}\s|\s*(```|~~~)|\s*>|\s*([-*+]|\d+[.)])\s+)/.test(lines[i])) {
        body.push(lines[i++]);
      }
      body.forEach(function (text, index) {
        if (index) paragraph.appendChild(el("br"));
        inline(text, paragraph, options);
      });
      root.appendChild(paragraph);
    }
    return root;
  }

  global.SafeMarkdown = { render: render };
}(window));
