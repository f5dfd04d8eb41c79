// Light or dark: the system's setting unless the user chose one with the header's toggle (kept in localStorage).
// Loaded in <head> without defer, so data-theme is set before the body is drawn and a dark page never flashes
// white; it is an external file because the CSP allows no inline script.
(function () {
  "use strict";
  const KEY = "genaisite-theme";
  const root = document.documentElement;
  const system = window.matchMedia("(prefers-color-scheme: dark)");

  function chosen() {
    try {
      const value = localStorage.getItem(KEY);
      return value === "dark" || value === "light" ? value : null;
    } catch (error) {
      return null; // storage refused (private mode, policy): follow the system
    }
  }

  function current() { return chosen() || (system.matches ? "dark" : "light"); }

  function apply() {
    const theme = current();
    root.dataset.theme = theme;
    const toggle = document.getElementById("theme-toggle");
    if (toggle) toggle.setAttribute("aria-pressed", theme === "dark" ? "true" : "false");
  }

  apply();
  system.addEventListener("change", apply); // follows the system live, until the user picks a theme

  document.addEventListener("DOMContentLoaded", function () {
    const toggle = document.getElementById("theme-toggle");
    if (!toggle) return;
    toggle.hidden = false; // without this script the button could do nothing, so it starts hidden
    apply();
    toggle.addEventListener("click", function () {
      try {
        localStorage.setItem(KEY, current() === "dark" ? "light" : "dark");
      } catch (error) {
        root.dataset.theme = current() === "dark" ? "light" : "dark"; // this page only
        toggle.setAttribute("aria-pressed", root.dataset.theme === "dark" ? "true" : "false");
        return;
      }
      apply();
    });
  });
  // Another tab toggled: follow it.
  window.addEventListener("storage", function (event) { if (event.key === KEY) apply(); });
}());
