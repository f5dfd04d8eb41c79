// Model output as Markdown, behind two walls. markdown-it parses with raw HTML off, so <script>, onerror= and
// the like come out as escaped text, and it accepts only http(s) and mailto links; DOMPurify then re-checks the
// HTML against a short allowlist of tags, attributes and URL schemes, in case a renderer rule below ever slips.
// Images are never loaded (an image becomes a link to it): no answer can make the browser fetch anything by itself.
// No inline style is produced (table alignment becomes a class), so the strict CSP has nothing to block.
//
// SafeMarkdown.render(source, options) → a DocumentFragment; options.citationTarget(n) gives the id a [n] links to.
// chat.js calls it again on every animation frame while an answer streams: parsing a long answer takes a few ms.
(function (global) {
  "use strict";

  const SAFE_LINK = /^(https?:|mailto:)/i;
  const md = global.markdownit({ html: false, linkify: true, typographer: false });
  // Only links written with their scheme (and e-mail addresses): "settings.py" or "chat.js" stay plain words.
  md.linkify.set({ fuzzyLink: false });
  md.validateLink = function (url) { return SAFE_LINK.test(url.trim()); };
  const escape = md.utils.escapeHtml;

  // [1], [2]…: the model's citation markers, links to the answer's own sources when it has them. Runs before the
  // link rule; "[1](url)" and "[1][ref]" are left to it.
  md.inline.ruler.before("link", "citation", function (state, silent) {
    if (state.src.charCodeAt(state.pos) !== 0x5b /* [ */) return false;
    const match = /^\[(\d{1,2})\](?![([])/.exec(state.src.slice(state.pos, state.pos + 6));
    if (!match) return false;
    if (!silent) state.push("citation", "", 0).meta = { number: match[1] };
    state.pos += match[0].length;
    return true;
  });
  md.renderer.rules.citation = function (tokens, idx, options, env) {
    const number = tokens[idx].meta.number;
    const target = env.citationTarget ? env.citationTarget(number) : null;
    if (!target) return escape("[" + number + "]");
    return '<a class="citation" href="#' + escape(target) + '">[' + number + "]</a>";
  };

  // After parsing: headings sit under the page's own (h1 → h3), table alignment becomes a class, and "[ ] " or
  // "[x] " at the start of a list item becomes a (read-only) checkbox.
  const TASK = /^\[([ xX])\][ \u00a0]/;
  md.core.ruler.push("genaisite_shape", function (state) {
    const tokens = state.tokens;
    tokens.forEach(function (token, index) {
      if (token.type === "heading_open" || token.type === "heading_close") {
        token.tag = "h" + Math.min(6, Number(token.tag.slice(1)) + 2);
      } else if ((token.type === "th_open" || token.type === "td_open") && token.attrGet("style")) {
        const align = /text-align:\s*(left|center|right)/.exec(token.attrGet("style"));
        token.attrs = token.attrs.filter(function (attr) { return attr[0] !== "style"; });
        if (align) token.attrJoin("class", "align-" + align[1]);
      } else if (token.type === "inline" && index >= 2 && tokens[index - 1].type === "paragraph_open" &&
                 tokens[index - 2].type === "list_item_open") {
        const first = token.children[0];
        const task = first && first.type === "text" && TASK.exec(first.content);
        if (!task) return;
        first.content = first.content.slice(task[0].length);
        const box = new state.Token("task_checkbox", "input", 0);
        box.meta = { done: task[1] !== " " };
        token.children.unshift(box);
        tokens[index - 2].attrJoin("class", "task-list-item");
      }
    });
  });
  md.renderer.rules.task_checkbox = function (tokens, idx) {
    const done = tokens[idx].meta.done;
    return '<input type="checkbox" class="task-checkbox" disabled' + (done ? " checked" : "") +
      ' aria-label="' + (done ? "Done" : "Not done") + '"> ';
  };

  md.renderer.rules.image = function (tokens, idx, options, env, self) {
    const token = tokens[idx];
    const label = (self.renderInlineAsText(token.children, options, env) || "image") + " (image not shown)";
    return '<a href="' + escape(token.attrGet("src")) + '">' + escape(label) + "</a>";
  };

  function codeBlock(language, code) {
    return '<div class="code-block"><div class="code-bar"><span class="code-language">' + escape(language || "text") +
      '</span><button type="button" class="copy-code" aria-label="Copy code to the clipboard">Copy</button></div>' +
      // tabindex: long lines scroll sideways, so the block must be reachable by keyboard.
      '<pre tabindex="0"><code>' + escape(code.replace(/\n$/, "")) + "</code></pre></div>\n";
  }
  md.renderer.rules.fence = function (tokens, idx) {
    return codeBlock(tokens[idx].info.trim().split(/\s+/)[0], tokens[idx].content);
  };
  md.renderer.rules.code_block = function (tokens, idx) { return codeBlock("", tokens[idx].content); };
  // A wide table scrolls inside its own box instead of widening the page (and the box takes the focus to scroll).
  md.renderer.rules.table_open = function () { return '<div class="table-wrap" tabindex="0"><table>\n'; };
  md.renderer.rules.table_close = function () { return "</table></div>\n"; };

  // The second wall: a DOMPurify instance of our own (hooks are per instance), with nothing beyond what the rules
  // above produce.
  const purify = global.DOMPurify(global);
  const PURIFY_OPTIONS = {
    ALLOWED_TAGS: ["a", "blockquote", "br", "button", "code", "del", "div", "em", "h3", "h4", "h5", "h6", "hr",
                   "input", "li", "ol", "p", "pre", "s", "span", "strong", "table", "tbody", "td", "th", "thead",
                   "tr", "ul"],
    ALLOWED_ATTR: ["aria-label", "checked", "class", "disabled", "href", "start", "tabindex", "title", "type"],
    // DOMPurify tests every attribute value with this, not only URLs: values without a scheme ("0", "task") pass;
    // the hook below then holds links to exactly the schemes markdown-it accepted.
    ALLOWED_URI_REGEXP: /^(?:(?:https?|mailto):|[^a-z]|[a-z+.-]+(?:[^a-z+.\-:]|$))/i,
    ALLOW_DATA_ATTR: false,
    RETURN_DOM_FRAGMENT: true,
  };
  const SAFE_HREF = /^(https?:|mailto:|#)/i;
  purify.addHook("afterSanitizeAttributes", function (node) {
    if (node.nodeName === "A" && node.hasAttribute("href") && !SAFE_HREF.test(node.getAttribute("href"))) {
      node.removeAttribute("href");
    }
    if (node.nodeName === "A" && !(node.getAttribute("href") || "#").startsWith("#")) {
      node.setAttribute("rel", "noopener noreferrer nofollow");
      node.setAttribute("target", "_blank");
    } else if (node.nodeName === "INPUT") {
      node.setAttribute("type", "checkbox");
      node.setAttribute("disabled", "");
    } else if (node.nodeName === "BUTTON") {
      node.setAttribute("type", "button");
    }
  });

  function copyButtons(root) {
    root.querySelectorAll(".copy-code").forEach(function (button) {
      button.addEventListener("click", function () {
        global.App.copyText(button.closest(".code-block").querySelector("code").textContent, button);
      });
    });
  }

  // HTML → a sanitized DocumentFragment; exposed so the tests can hit the second wall with markup the first would
  // never let through.
  function sanitize(html) { return purify.sanitize(html, PURIFY_OPTIONS); }

  function render(source, options) {
    const fragment = sanitize(md.render(source || "", { citationTarget: (options || {}).citationTarget }));
    copyButtons(fragment);
    return fragment;
  }

  global.SafeMarkdown = { render: render, sanitize: sanitize };
}(window));
