// The lead form: add and remove variables, add, remove and reorder secondary contacts.
// Rows are Django formset forms (edited through formset_rows.js); removing one ticks its DELETE
// box, order is kept in ORDER fields.
(() => {
  const form = document.getElementById("lead-form");
  if (!form) return;
  const contacts = document.getElementById("contacts");
  const { onButtons, wireList, visible, add, remove } = window.formsetRows;

  const total = (prefix) => form.querySelector(`input[name="${prefix}-TOTAL_FORMS"]`);

  onButtons(form, {
    "[data-add-variable]": (button) => {
      const box = button.closest("[data-vars]");
      const prefix = box.dataset.prefix;
      const rows = box.querySelector("[data-rows]");
      add(rows, "variable-row-template", total(prefix), [["__vp__", prefix]]).querySelector("input").focus();
    },
    "[data-remove-variable]": (button) => remove(button.closest("[data-variable-row]")),
  });

  wireList(form, {
    container: contacts,
    row: "[data-contact]",
    template: "contact-template",
    total: total("contacts"),
    addButton: "#add-contact",
    focus: "[data-contact-phone]",
    removeButton: "[data-remove-contact]",
    renumber() {
      visible(contacts, "[data-contact]").forEach((card, i) => {
        card.querySelector("[data-order]").value = i + 1;
        card.querySelector("[data-contact-title]").textContent = `Secondary contact ${i + 1}`;
      });
    },
  });
})();
