// The alert console's live updates: HTMX re-reads the console every few seconds; this pauses
// that while the user works inside it (an open menu or silence form, a focused field) or has
// paused it (WCAG 2.2.2), and announces changed counts in one polite live region.
(function () {
  "use strict";
  var paused = false;
  var lastSummary = null;

  function busy(region) {
    if (paused) return true;
    if (region.querySelector("details[open]")) return true;
    var active = document.activeElement;
    return !!(active && region.contains(active) && /^(INPUT|SELECT|TEXTAREA)$/.test(active.tagName));
  }

  document.addEventListener("htmx:beforeRequest", function (ev) {
    var el = ev.detail && ev.detail.elt;
    if (el && el.hasAttribute && el.hasAttribute("data-live-region") && busy(el)) ev.preventDefault();
  });

  document.addEventListener("htmx:afterSwap", function () {
    var region = document.querySelector("[data-live-region]");
    var status = document.getElementById("live-status");
    if (!region || !status) return;
    var summary = region.getAttribute("data-live-summary");
    var time = new Date().toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
    // Only a change is announced; the time of the last check is shown, not spoken.
    if (lastSummary !== null && summary !== lastSummary) status.textContent = "Changed: " + summary;
    var checked = document.getElementById("live-checked");
    if (checked) checked.textContent = "checked " + time;
    lastSummary = summary;
  });

  document.addEventListener("click", function (ev) {
    var toggle = ev.target.closest && ev.target.closest("[data-live-toggle]");
    if (!toggle) return;
    paused = !paused;
    toggle.setAttribute("aria-pressed", paused ? "true" : "false");
    toggle.textContent = paused ? "Resume live updates" : "Pause live updates";
    var box = toggle.closest(".live-controls");
    if (box) box.classList.toggle("paused", paused);
  });

  document.addEventListener("DOMContentLoaded", function () {
    var region = document.querySelector("[data-live-region]");
    if (region) lastSummary = region.getAttribute("data-live-summary");
  });
})();
