// Shared browser helpers: JSON API calls with CSRF, file uploads with progress, and a websocket that reconnects by
// itself.
(function (global) {
  "use strict";

  function csrfToken() {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  class ApiError extends Error {
    constructor(message, status, code, existingId) {
      super(message);
      this.status = status;
      this.code = code;
      this.existingId = existingId; // a duplicate (409): what already exists
    }
  }

  // The API's error body ({"error": {"code", "message", "existing_id"?}}) as an ApiError.
  function errorFrom(data, status, fallback) {
    const error = (data && data.error) || {};
    return new ApiError(error.message || fallback, status, error.code, error.existing_id);
  }

  async function api(method, url, body) {
    const options = { method: method, credentials: "same-origin", headers: { "X-CSRFToken": csrfToken() } };
    if (body instanceof FormData) {
      options.body = body;
    } else if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(url, options);
    } catch (error) {
      throw new ApiError("The server could not be reached. Check your connection and try again.", 0, "offline");
    }
    if (response.status === 204) return null;
    const data = await response.json().catch(function () { return {}; });
    if (!response.ok) {
      throw errorFrom(data, response.status, "Something went wrong (" + response.status + ").");
    }
    return data;
  }

  // A websocket that reconnects with backoff. handlers: open(), message(data), state(text), closed(code).
  function reconnectingSocket(path, handlers) {
    let socket = null;
    let delay = 500;
    let stopped = false;
    let timer = null;

    function connect() {
      const scheme = location.protocol === "https:" ? "wss://" : "ws://";
      socket = new WebSocket(scheme + location.host + path);
      socket.addEventListener("open", function () {
        delay = 500;
        if (handlers.state) handlers.state("connected");
        if (handlers.open) handlers.open();
      });
      socket.addEventListener("message", function (event) {
        handlers.message(JSON.parse(event.data));
      });
      socket.addEventListener("close", function (event) {
        if (stopped) return;
        // 4401/4403/4404: not signed in, not allowed, gone: retrying would not help.
        if (event.code >= 4400 && event.code < 4500) {
          if (handlers.closed) handlers.closed(event.code);
          return;
        }
        if (handlers.state) handlers.state("reconnecting");
        timer = setTimeout(connect, delay);
        delay = Math.min(delay * 2, 10000);
      });
    }

    connect();
    return {
      send: function (data) {
        if (!socket || socket.readyState !== WebSocket.OPEN) return false;
        socket.send(JSON.stringify(data));
        return true;
      },
      close: function () {
        stopped = true;
        clearTimeout(timer);
        if (socket) socket.close();
      },
    };
  }

  // Uploads one file as multipart field "file" with XHR (fetch reports no upload progress). onProgress(percent)
  // follows the bytes sent; an AbortSignal in `signal` cancels. Resolves with the created object's JSON, rejects
  // with an ApiError carrying the server's message (a refusal) or saying the server could not be reached.
  function uploadFile(url, file, options) {
    const settings = options || {};
    return new Promise(function (resolve, reject) {
      const body = new FormData();
      body.append("file", file);
      const request = new XMLHttpRequest();
      request.open("POST", url);
      request.setRequestHeader("X-CSRFToken", csrfToken());
      request.responseType = "json";
      request.upload.addEventListener("progress", function (event) {
        if (event.lengthComputable && settings.onProgress) {
          settings.onProgress(Math.round((event.loaded / event.total) * 100));
        }
      });
      request.addEventListener("load", function () {
        const data = request.response || {};
        if (request.status >= 200 && request.status < 300) {
          resolve(data);
          return;
        }
        reject(errorFrom(data, request.status, "The upload was refused (" + request.status + ")."));
      });
      request.addEventListener("error", function () {
        reject(new ApiError("The server could not be reached. Check your connection.", 0, "offline"));
      });
      request.addEventListener("abort", function () { reject(new ApiError("The upload was cancelled.", 0, "aborted")); });
      if (settings.signal) settings.signal.addEventListener("abort", function () { request.abort(); });
      request.send(body);
    });
  }

  function formatSize(bytes) {
    if (bytes < 1024) return bytes + " bytes";
    if (bytes < 1024 * 1024) return (bytes / 1024).toFixed(1) + " KB";
    return (bytes / 1024 / 1024).toFixed(1) + " MB";
  }

  // Why a file cannot be uploaded under a limit of maxBytes (from the page, the uploader's own policy), or "" if it
  // can: said before sending it, so a big file is not sent only to be refused.
  function sizeRefusal(file, maxBytes) {
    if (!maxBytes || file.size <= maxBytes) return "";
    return file.name + " is " + formatSize(file.size) + ", larger than your limit of " + formatSize(maxBytes) + ".";
  }

  // Copies text and says so on the button for a moment.
  function copyText(text, button) {
    const label = button.textContent;
    navigator.clipboard.writeText(text).then(
      function () { button.textContent = "Copied"; setTimeout(function () { button.textContent = label; }, 1500); },
      function () { button.textContent = "Copy failed: select the text and copy it"; }
    );
  }

  // Page-wide behaviours declared in the markup, so templates need no script of their own:
  // <button data-copy-target="id"> copies that field's value; <form data-confirm="question"> asks before submitting.
  document.addEventListener("click", function (event) {
    const button = event.target.closest("button[data-copy-target]");
    if (!button) return;
    const target = document.getElementById(button.dataset.copyTarget);
    if (target) copyText(target.value || target.textContent, button);
  });
  document.addEventListener("submit", function (event) {
    const question = event.target.dataset && event.target.dataset.confirm;
    if (question && !window.confirm(question)) event.preventDefault();
  });

  // A list of labels with their probabilities, highest first, as bars (the Tasks and ML pages).
  function showScores(list, scores) {
    list.replaceChildren();
    Object.entries(scores || {}).sort(function (a, b) { return b[1] - a[1]; }).forEach(function (entry) {
      const item = document.createElement("li");
      const name = document.createElement("span");
      name.className = "task-score-label";
      name.textContent = entry[0];
      const bar = document.createElement("progress");
      bar.max = 1;
      bar.value = entry[1];
      bar.setAttribute("aria-label", entry[0]);
      const value = document.createElement("span");
      value.textContent = (entry[1] * 100).toFixed(1) + "%";
      item.append(name, bar, value);
      list.append(item);
    });
  }

  global.App = {
    api: api, ApiError: ApiError, reconnectingSocket: reconnectingSocket, csrfToken: csrfToken, copyText: copyText,
    showScores: showScores, uploadFile: uploadFile, formatSize: formatSize,
    sizeRefusal: sizeRefusal,
  };
}(window));
