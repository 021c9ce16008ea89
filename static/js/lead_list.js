// The leads table: "Select page" ticks every row checkbox of the page.
document.addEventListener("change", (event) => {
  if (event.target.matches("[data-select-page]")) {
    document.querySelectorAll('#leads-table input[name="pk"]').forEach((box) => {
      box.checked = event.target.checked;
    });
  }
});
