// The assistant form: add, remove and reorder variable definitions (a Django formset with ORDER and
// DELETE fields, edited through formset_rows.js); the order is written into the ORDER fields before
// the form is sent.
(() => {
  const form = document.getElementById("assistant-form");
  if (!form) return;
  const rows = document.getElementById("definitions");
  const total = form.querySelector('input[name="vars-TOTAL_FORMS"]');
  const { visible, add, remove, move } = window.formsetRows;

  function renumber() {
    visible(rows, "[data-definition-row]").forEach((r, i) => (r.querySelector("[data-order]").value = i + 1));
  }

  form.addEventListener("click", (event) => {
    const button = event.target.closest("button");
    if (!button) return;
    if (button.id === "add-variable") {
      const row = add(rows, "definition-template", total);
      renumber();
      row.querySelector('input[type="text"]').focus();
    } else if (button.hasAttribute("data-remove")) {
      remove(button.closest("[data-definition-row]"));
      renumber();
    } else if (button.dataset.move) {
      move(rows, button.closest("[data-definition-row]"), button.dataset.move);
      renumber();
      button.focus();
    }
  });
  form.addEventListener("submit", renumber);
  renumber();
})();
