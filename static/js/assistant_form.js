// The assistant form: add, remove and reorder variable definitions (a Django formset with ORDER and
// DELETE fields); the order is written into the ORDER fields before the form is sent.
(() => {
  const form = document.getElementById("assistant-form");
  if (!form) return;
  const rows = document.getElementById("definitions");
  const total = form.querySelector('input[name="vars-TOTAL_FORMS"]');

  function renumber() {
    [...rows.querySelectorAll(":scope > [data-definition-row]")]
      .filter((r) => !r.hidden)
      .forEach((r, i) => (r.querySelector("[data-order]").value = i + 1));
  }

  form.addEventListener("click", (event) => {
    const button = event.target.closest("button");
    if (!button) return;
    if (button.id === "add-variable") {
      const holder = document.createElement("div");
      holder.innerHTML = document.getElementById("definition-template").innerHTML.replaceAll("__prefix__", total.value).trim();
      const row = holder.firstElementChild;
      rows.appendChild(row);
      total.value = Number(total.value) + 1;
      renumber();
      row.querySelector('input[type="text"]').focus();
    } else if (button.hasAttribute("data-remove")) {
      const row = button.closest("[data-definition-row]");
      row.querySelector("[data-delete]").checked = true;
      row.hidden = true;
      renumber();
    } else if (button.dataset.move) {
      const row = button.closest("[data-definition-row]");
      const step = button.dataset.move === "up" ? "previousElementSibling" : "nextElementSibling";
      let other = row[step];
      while (other && other.hidden) other = other[step];
      if (other) {
        if (button.dataset.move === "up") rows.insertBefore(row, other);
        else rows.insertBefore(other, row);
      }
      renumber();
      button.focus();
    }
  });
  form.addEventListener("submit", renumber);
  renumber();
})();
