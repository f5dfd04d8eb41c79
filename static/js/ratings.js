// Rating answers: "Helpful" / "Not helpful" under each finished answer. "Not helpful" asks (optionally) what is
// wrong; with a reason the answer is reported to the moderators. PUT /api/v1/messages/<id>/rating/.
(function (global) {
  "use strict";

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function attach(container, messageId, initial) {
    if (container.dataset.ready) return;
    container.dataset.ready = "1";
    const group = el("div", "rating-buttons");
    group.setAttribute("role", "group");
    group.setAttribute("aria-label", "Rate this answer");
    const up = el("button", "rate-up", "Helpful");
    const down = el("button", "rate-down", "Not helpful");
    [up, down].forEach(function (button) { button.type = "button"; group.appendChild(button); });
    const status = el("span", "rating-status");
    status.setAttribute("role", "status");
    group.appendChild(status);

    const form = el("form", "report-form");
    form.hidden = true;
    const inputId = "report-" + messageId;
    const label = el("label", null, "What is wrong with it? (optional; sends it to the moderators)");
    label.htmlFor = inputId;
    const input = el("input");
    input.id = inputId;
    input.maxLength = 500;
    const send = el("button", null, "Report");
    send.type = "submit";
    const cancel = el("button", null, "Not now");
    cancel.type = "button";
    [label, input, send, cancel].forEach(function (node) { form.appendChild(node); });
    container.replaceChildren(group, form);

    let current = initial || null;
    function show() {
      up.setAttribute("aria-pressed", String(current === "up"));
      down.setAttribute("aria-pressed", String(current === "down"));
    }

    async function rate(value, reason) {
      try {
        const result = await global.App.api("PUT", "/api/v1/messages/" + messageId + "/rating/",
          { rating: value, reason: reason || "" });
        current = result.rating;
        status.textContent = result.reported ? "Reported. Thank you." : current ? "Thanks for the feedback." : "";
      } catch (error) {
        status.textContent = error.message;
      }
      show();
    }

    up.addEventListener("click", function () {
      form.hidden = true;
      rate(current === "up" ? null : "up");
    });
    down.addEventListener("click", function () {
      if (current === "down") { form.hidden = true; rate(null); return; }
      rate("down");
      form.hidden = false;
      input.focus();
    });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      form.hidden = true;
      rate("down", input.value.trim());
      down.focus();
    });
    cancel.addEventListener("click", function () { form.hidden = true; down.focus(); });
    show();
  }

  global.Ratings = { attach: attach };
}(window));
