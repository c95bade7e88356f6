// Transition pages: the change form's chips (Enter or "Add" adds the typed item and asks for
// a fresh risk/collision preview), and the positions of calendar bars. Positions come from
// data attributes because the CSP forbids inline style attributes; CSSOM writes are allowed.
(function () {
  "use strict";
  function addNode(input) {
    if (!input || !input.value.trim()) return;
    input.dispatchEvent(new Event("change", { bubbles: true }));
  }
  document.addEventListener("keydown", function (ev) {
    var input = ev.target.closest && ev.target.closest("[data-node-add]");
    if (input && ev.key === "Enter" && !ev.ctrlKey && !ev.metaKey) {
      ev.preventDefault();
      addNode(input);
    }
  });
  document.addEventListener("click", function (ev) {
    if (ev.target.closest("[data-node-add-button]")) {
      addNode(document.querySelector("[data-node-add]"));
    }
  });
  var refocus = false;
  document.addEventListener("htmx:beforeRequest", function () {
    refocus = document.activeElement && document.activeElement.matches("[data-node-add]");
  });

  function place(root) {
    (root || document).querySelectorAll("[data-left]").forEach(function (el) {
      el.style.left = el.dataset.left + "%";
      el.style.width = el.dataset.width + "%";
    });
    (root || document).querySelectorAll(".position").forEach(function (box) {
      var start = Number(box.dataset.start), end = Number(box.dataset.end), span = end - start;
      if (!(span > 0)) return;
      box.querySelectorAll(".position-bar[data-from]").forEach(function (bar) {
        var from = Math.max(start, Number(bar.dataset.from));
        var to = Math.min(end, Number(bar.dataset.to));
        bar.style.left = ((from - start) / span * 100) + "%";
        bar.style.width = Math.max(0.8, (to - from) / span * 100) + "%";
      });
    });
  }
  document.addEventListener("DOMContentLoaded", function () { place(); });
  document.addEventListener("htmx:afterSettle", function (ev) {
    place(ev.target);
    if (refocus) {
      var input = document.querySelector("[data-node-add]");
      if (input && document.activeElement !== input) input.focus();
      refocus = false;
    }
  });
})();
