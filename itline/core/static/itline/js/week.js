// Places the working-hour blocks of the calendar timetable. Positions come from data
// attributes because the CSP forbids inline style attributes; CSSOM writes are allowed.
(function () {
  "use strict";
  document.querySelectorAll(".week-block[data-left]").forEach(function (block) {
    block.style.left = block.dataset.left + "%";
    block.style.width = block.dataset.width + "%";
  });
})();
