// itline: keyboard shortcuts, the mobile menu, dropdown menus, Ctrl-K search, Ctrl-Enter
// submit, row navigation, copy-to-clipboard. Plain JS, no inline handlers (the CSP forbids them).
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

  // Dropdowns are <details> elements (they work without JS); these helpers add what a menu
  // is expected to do: one open at a time, Escape and a click elsewhere close it.
  function openMenus() { return Array.from(document.querySelectorAll("details.menu[open], details.chip[open]")); }
  function closeMenus(except) {
    openMenus().forEach(function (d) { if (d !== except) d.open = false; });
  }
  document.addEventListener("toggle", function (ev) {
    var d = ev.target;
    if (d.matches && d.matches("details.menu, details.chip") && d.open) closeMenus(d);
  }, true);

  function navOpen() { return document.body.classList.contains("nav-open"); }
  function setNav(open) {
    var toggle = document.querySelector("[data-nav-toggle]");
    document.body.classList.toggle("nav-open", open);
    if (toggle) toggle.setAttribute("aria-expanded", open ? "true" : "false");
    if (open) {
      var first = document.querySelector("#sidebar a[aria-current]") || document.querySelector("#sidebar a");
      if (first) first.focus({ preventScroll: true });
    }
  }

  document.addEventListener("keydown", function (ev) {
    var search = document.querySelector("[data-global-search]");
    if (ev.key === "Escape") {
      var menus = openMenus();
      if (menus.length) {
        var summary = menus[0].querySelector("summary");
        closeMenus();
        if (summary) summary.focus();
        return;
      }
      if (navOpen()) {
        setNav(false);
        var t = document.querySelector("[data-nav-toggle]");
        if (t) t.focus();
        return;
      }
    }
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

  function copy(text, button) {
    function done() {
      var label = button.textContent;
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = label; }, 2000);
    }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done);
      return;
    }
    // Plain-HTTP installs have no clipboard API: select the text so Ctrl-C copies it.
    var target = document.querySelector("[data-copy]");
    var range = document.createRange();
    range.selectNodeContents(target);
    var sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
    try { if (document.execCommand("copy")) done(); } catch (e) { /* the text stays selected */ }
  }

  document.addEventListener("click", function (ev) {
    var toggle = ev.target.closest("[data-nav-toggle]");
    if (toggle) {
      setNav(!navOpen());
      return;
    }
    if (navOpen() && !ev.target.closest("#sidebar")) setNav(false);
    if (!ev.target.closest("details.menu, details.chip")) closeMenus();
    if (ev.target.closest("[data-shortcuts-open]")) {
      closeMenus();
      document.getElementById("shortcuts").showModal();
    }
    var copyButton = ev.target.closest("[data-copy-button]");
    if (copyButton) {
      var source = document.querySelector("[data-copy]");
      if (source) copy(source.textContent.trim(), copyButton);
    }
    var row = ev.target.closest("tr[data-href]");
    if (row && !ev.target.closest("a, button, input, form, label")) {
      if (window.getSelection && String(window.getSelection()).length) return; // selecting text
      window.location = row.dataset.href;
    }
  });
  document.addEventListener("htmx:afterSwap", function () { current = -1; });
  document.addEventListener("DOMContentLoaded", function () {
    var summary = document.querySelector(".error-summary");
    if (summary) summary.focus();
    // Keep the current page's entry in view in a long navigation (it scrolls on its own).
    var sidebar = document.getElementById("sidebar");
    var here = sidebar && sidebar.querySelector("a[aria-current]");
    if (here && here.offsetTop + here.offsetHeight > sidebar.clientHeight) {
      sidebar.scrollTop = here.offsetTop - sidebar.clientHeight / 2;
    }
  });
})();
