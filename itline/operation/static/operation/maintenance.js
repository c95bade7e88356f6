// Maintenance calendar: the service/function filters apply as soon as one is chosen (the
// form still has its Apply button for keyboards and no-JS browsers).
document.addEventListener("change", (event) => {
  const select = event.target.closest("form.cal-tools select");
  if (select) select.form.requestSubmit();
});
