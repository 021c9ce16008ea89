// The leads table: "Select page" ticks every row checkbox of the page; the bulk bar counts the
// checked rows; its Export takes the checked rows when "checked rows" is chosen; the page-size
// select applies itself.
(() => {
  const rowBoxes = () => document.querySelectorAll('#leads-table input[name="pk"]');
  const counter = document.getElementById("checked-count");

  function countChecked() {
    if (counter) counter.textContent = [...rowBoxes()].filter((box) => box.checked).length;
  }

  document.addEventListener("change", (event) => {
    if (event.target.matches("[data-select-page]")) {
      rowBoxes().forEach((box) => {
        box.checked = event.target.checked;
      });
    }
    if (event.target.matches('[data-select-page], #leads-table input[name="pk"]')) countChecked();
    if (event.target.matches("[data-submit-on-change]")) event.target.form.submit();
  });

  document.addEventListener("click", (event) => {
    const link = event.target.closest("a[data-export]");
    const bulk = document.getElementById("bulk");
    if (!link || !bulk || !document.getElementById("scope-checked")?.checked) return;
    event.preventDefault();
    const query = new URLSearchParams(new FormData(bulk));
    query.delete("next");
    window.location.assign(`${link.dataset.export}?${query}`);
  });

  document.querySelectorAll("[data-hidden-with-script]").forEach((el) => {
    el.hidden = true;
  });
  countChecked();
})();
