// The assistant form: add, remove and reorder variable definitions (a Django formset with ORDER and
// DELETE fields, edited through formset_rows.js); the order is written into the ORDER fields before
// the form is sent.
(() => {
  const form = document.getElementById("assistant-form");
  if (!form) return;
  const rows = document.getElementById("definitions");
  const { wireList, visible } = window.formsetRows;

  wireList(form, {
    container: rows,
    row: "[data-definition-row]",
    template: "definition-template",
    total: form.querySelector('input[name="vars-TOTAL_FORMS"]'),
    addButton: "#add-variable",
    focus: 'input[type="text"]',
    removeButton: "[data-remove]",
    renumber() {
      visible(rows, "[data-definition-row]").forEach((r, i) => (r.querySelector("[data-order]").value = i + 1));
    },
  });
})();
