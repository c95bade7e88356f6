// itline service desk: record shortcuts (a assign to me, c comment, r resolve), action panels,
// bulk selection in the queues. Plain JS, no inline handlers (the CSP forbids them); every
// feature works without it (forms post, details open), this only makes it quicker.
(function () {
  "use strict";
  document.documentElement.classList.add("js");
  // HTMX copies "style" between old and new elements while settling; Chromium gives form
  // controls an empty style attribute at phone widths, and copying that back is an inline
  // style the CSP blocks (a console error on every swap). Nothing here needs it settled.
  if (window.htmx) window.htmx.config.attributesToSettle = ["class", "width", "height"];

  function typing(el) {
    return el && (el.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName));
  }
  function focusFirstField(root) {
    var field = root.querySelector("textarea, select, input:not([type=hidden]):not([type=radio])");
    if (field) field.focus();
  }
  function openPanel(name) {
    var panel = document.getElementById("panel-" + name);
    if (!panel) return false;
    document.querySelectorAll("details.menu[open]").forEach(function (d) { d.open = false; });
    panel.open = true;
    panel.scrollIntoView({ block: "nearest" });
    focusFirstField(panel);
    return true;
  }

  // The help dialog lists the desk's own keys too.
  function extendHelp() {
    var list = document.querySelector("#shortcuts dl.shortcuts");
    if (!list || list.querySelector("[data-desk-keys]")) return;
    [
      ["a", "Assign the record to me"],
      ["c", "Write a comment (reply or note)"],
      ["r", "Resolve / answer the record"],
      ["x", "Select the highlighted row in a queue"],
    ].forEach(function (pair, i) {
      var dt = document.createElement("dt");
      var kbd = document.createElement("kbd");
      kbd.textContent = pair[0];
      dt.appendChild(kbd);
      if (i === 0) dt.setAttribute("data-desk-keys", "");
      var dd = document.createElement("dd");
      dd.textContent = pair[1];
      list.appendChild(dt);
      list.appendChild(dd);
    });
  }

  function updateBulk() {
    var bar = document.querySelector("[data-bulk]");
    if (!bar) return;
    var boxes = Array.from(document.querySelectorAll("[data-row-select]"));
    var chosen = boxes.filter(function (b) { return b.checked; }).length;
    var count = bar.querySelector("[data-bulk-count]");
    if (count) count.textContent = chosen ? chosen + " selected" : "None selected";
    bar.classList.toggle("has-selection", chosen > 0);
    var all = document.querySelector("[data-select-all]");
    if (all) {
      all.checked = chosen > 0 && chosen === boxes.length;
      all.indeterminate = chosen > 0 && chosen < boxes.length;
    }
  }

  document.addEventListener("change", function (ev) {
    var t = ev.target;
    if (t.matches("[data-select-all]")) {
      document.querySelectorAll("[data-row-select]").forEach(function (b) { b.checked = t.checked; });
      updateBulk();
    } else if (t.matches("[data-row-select]")) {
      updateBulk();
    }
  });

  document.addEventListener("click", function (ev) {
    var closer = ev.target.closest("[data-close-panel]");
    if (closer) {
      var panel = closer.closest("details.action");
      if (panel) {
        panel.open = false;
        var summary = panel.querySelector("summary");
        if (summary) summary.focus();
      }
      return;
    }
    var opener = ev.target.closest("[data-open-panel]");
    if (opener && openPanel(opener.getAttribute("data-open-panel"))) ev.preventDefault();
  });

  // One action panel open at a time; opening one puts the cursor in its first field.
  document.addEventListener("toggle", function (ev) {
    var d = ev.target;
    if (!(d.matches && d.matches("details.action")) || !d.open) return;
    document.querySelectorAll("details.action[open]").forEach(function (o) { if (o !== d) o.open = false; });
    focusFirstField(d);
  }, true);

  document.addEventListener("keydown", function (ev) {
    if (ev.key === "Escape") {
      var open = document.querySelector("details.action[open]");
      if (open) {
        open.open = false;
        var s = open.querySelector("summary");
        if (s) s.focus();
      }
      return;
    }
    if (typing(ev.target) || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    if (document.querySelector("dialog[open]")) return;
    switch (ev.key) {
      case "a":
        var me = document.querySelector("[data-shortcut-a]");
        if (me) { ev.preventDefault(); me.click(); }
        break;
      case "c":
        var body = document.querySelector("[data-composer-body]");
        if (body) { ev.preventDefault(); body.scrollIntoView({ block: "center" }); body.focus(); }
        break;
      case "r":
        if (openPanel("resolve") || openPanel("answer")) ev.preventDefault();
        break;
      case "x":
        var row = document.querySelector("table[data-list] tbody tr.selected [data-row-select]");
        if (row) { ev.preventDefault(); row.checked = !row.checked; updateBulk(); }
        break;
    }
  });

  document.addEventListener("htmx:afterSwap", updateBulk);
  document.addEventListener("DOMContentLoaded", function () {
    extendHelp();
    updateBulk();
  });
})();
