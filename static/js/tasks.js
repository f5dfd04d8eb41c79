// The tasks page: three forms that call /api/v1/tasks/ with the session (and CSRF token) and show the answers.
// Everything the model wrote is shown as text (textContent), never as markup.
(function () {
  "use strict";
  function field(root, name) { return root.querySelector('[data-field="' + name + '"]'); }

  function usageText(usage) {
    return usage.total_tokens + " tokens in " + usage.calls + (usage.calls === 1 ? " model call" : " model calls");
  }

  // Runs one form's request: disables it meanwhile, shows the error or hands the answer to show().
  function wire(formId, resultId, request, show) {
    const form = document.getElementById(formId);
    const result = document.getElementById(resultId);
    if (!form || !result) return;
    form.addEventListener("submit", async function (event) {
      event.preventDefault();
      const button = form.querySelector("button[type=submit]");
      field(form, "error").textContent = "";
      let body;
      try {
        body = request(form);
      } catch (error) {
        field(form, "error").textContent = error.message;
        return;
      }
      button.disabled = true;
      form.setAttribute("aria-busy", "true");
      try {
        const answer = await App.api("POST", form.dataset.url || request.url, body);
        show(result, answer);
        field(result, "usage").textContent = usageText(answer.usage);
        result.hidden = false;
        result.dataset.state = "done";
      } catch (error) {
        field(form, "error").textContent = error.message;
      } finally {
        button.disabled = false;
        form.removeAttribute("aria-busy");
      }
    });
  }

  function classifyRequest(form) {
    const labels = form.elements.labels.value.split(",").map(function (l) { return l.trim(); }).filter(Boolean);
    return { text: form.elements.text.value, labels: labels };
  }
  classifyRequest.url = "/api/v1/tasks/classify/";

  function showClassification(result, answer) {
    field(result, "label").textContent = answer.label;
    const list = field(result, "scores");
    list.replaceChildren();
    if (!answer.scores) {
      const item = document.createElement("li");
      item.textContent = "The model server reported no probabilities.";
      list.append(item);
      return;
    }
    App.showScores(list, answer.scores);
  }

  function summarizeRequest(form) {
    const documentId = form.elements.document_id.value;
    return documentId ? { document_id: documentId } : { text: form.elements.text.value };
  }
  summarizeRequest.url = "/api/v1/tasks/summarize/";

  function where(citation) {
    const parts = [];
    if (citation.pages.length) parts.push((citation.pages.length > 1 ? "pages " : "page ") + citation.pages.join(", "));
    if (citation.sections.length) parts.push(citation.sections.join("; "));
    if (!parts.length) parts.push("text part " + citation.chunks.map(function (n) { return n + 1; }).join(", "));
    return parts.join(" · ");
  }

  function showSummary(result, answer) {
    field(result, "summary").textContent = answer.summary;
    const list = field(result, "citations");
    list.replaceChildren();
    answer.citations.forEach(function (citation) {
      const item = document.createElement("li");
      const origin = document.createElement("strong");
      origin.textContent = where(citation);
      const text = document.createElement("p");
      text.textContent = citation.summary;
      item.append(origin, text);
      list.append(item);
    });
    if (answer.truncated) {
      const note = document.createElement("li");
      note.textContent = "The document was longer than a summary reads: this covers its start.";
      list.append(note);
    }
  }

  function extractRequest(form) {
    let schema;
    try {
      schema = JSON.parse(form.elements.schema.value);
    } catch (error) {
      throw new Error("The schema is not valid JSON: " + error.message);
    }
    return { text: form.elements.text.value, schema: schema };
  }
  extractRequest.url = "/api/v1/tasks/extract/";

  function showExtraction(result, answer) {
    field(result, "data").textContent = JSON.stringify(answer.data, null, 2) +
      (answer.truncated ? "\n\n(Only the start of the text was read.)" : "");
  }

  wire("classify-form", "classify-result", classifyRequest, showClassification);
  wire("summarize-form", "summarize-result", summarizeRequest, showSummary);
  wire("extract-form", "extract-result", extractRequest, showExtraction);
}());
