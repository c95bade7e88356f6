// itline: keyboard shortcuts, the mobile menu, Ctrl-K search, Ctrl-Enter submit, row navigation.
// Plain JS, no inline handlers (the CSP forbids them).
(function () {
  "use strict";
  function typing(el) {
    return el && (el.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName));
  }
  function rows() { return Array.from(document.querySelectorAll("table[data-list] tbody tr[data-href]")); }
  var current = -1;
  function select(i) {
    var all = rows();
    if (!all.length) return;
    current = Math.max(0, Math.min(all.length - 1, i));
    all.forEach(function (r, j) { r.classList.toggle("selected", j === current); });
    all[current].scrollIntoView({ block: "nearest" });
    var link = all[current].querySelector("a");
    if (link) link.focus({ preventScroll: true });
  }
  document.addEventListener("keydown", function (ev) {
    var search = document.querySelector("[data-global-search]");
    if ((ev.ctrlKey || ev.metaKey) && ev.key.toLowerCase() === "k") {
      if (search) { ev.preventDefault(); search.focus(); search.select(); }
      return;
    }
    if ((ev.ctrlKey || ev.metaKey) && ev.key === "Enter") {
      var form = ev.target.closest && ev.target.closest("form[data-ctrl-enter]");
      if (form) { ev.preventDefault(); form.requestSubmit(); }
      return;
    }
    if (typing(ev.target) || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    var dialog = document.getElementById("shortcuts");
    switch (ev.key) {
      case "/": if (search) { ev.preventDefault(); search.focus(); } break;
      case "?": if (dialog) { ev.preventDefault(); dialog.showModal(); } break;
      case "j": select(current + 1); break;
      case "k": select(current - 1); break;
      case "Enter":
        var all = rows();
        if (current >= 0 && all[current] && document.activeElement.tagName !== "A") { window.location = all[current].dataset.href; }
        break;
      case "e": var edit = document.querySelector("[data-shortcut-edit]"); if (edit) edit.click(); break;
      case "n": var add = document.querySelector("[data-shortcut-new]"); if (add) add.click(); break;
    }
  });
  document.addEventListener("click", function (ev) {
    var toggle = ev.target.closest("[data-nav-toggle]");
    if (toggle) {
      var open = document.body.classList.toggle("nav-open");
      toggle.setAttribute("aria-expanded", open ? "true" : "false");
    }
    if (ev.target.closest("[data-shortcuts-open]")) { document.getElementById("shortcuts").showModal(); }
    var row = ev.target.closest("tr[data-href]");
    if (row && !ev.target.closest("a, button, input, form")) { window.location = row.dataset.href; }
  });
  document.addEventListener("htmx:afterSwap", function () { current = -1; });
  document.addEventListener("DOMContentLoaded", function () {
    var summary = document.querySelector(".error-summary");
    if (summary) summary.focus();
  });
})();
