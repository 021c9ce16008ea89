// The lead form: add and remove variables, add, remove and reorder secondary contacts.
// Rows are Django formset forms (edited through formset_rows.js); removing one ticks its DELETE
// box, order is kept in ORDER fields.
(() => {
  const form = document.getElementById("lead-form");
  if (!form) return;
  const contacts = document.getElementById("contacts");
  const { visible, add, remove, move } = window.formsetRows;

  const total = (prefix) => form.querySelector(`input[name="${prefix}-TOTAL_FORMS"]`);

  function renumberContacts() {
    visible(contacts, "[data-contact]").forEach((card, i) => {
      card.querySelector("[data-order]").value = i + 1;
      card.querySelector("[data-contact-title]").textContent = `Secondary contact ${i + 1}`;
    });
  }

  form.addEventListener("click", (event) => {
    const button = event.target.closest("button");
    if (!button) return;
    if (button.hasAttribute("data-add-variable")) {
      const box = button.closest("[data-vars]");
      const prefix = box.dataset.prefix;
      const rows = box.querySelector("[data-rows]");
      add(rows, "variable-row-template", total(prefix), [["__vp__", prefix]]).querySelector("input").focus();
    } else if (button.hasAttribute("data-remove-variable")) {
      remove(button.closest("[data-variable-row]"));
    } else if (button.id === "add-contact") {
      const card = add(contacts, "contact-template", total("contacts"));
      renumberContacts();
      card.querySelector("[data-contact-phone]").focus();
    } else if (button.hasAttribute("data-remove-contact")) {
      remove(button.closest("[data-contact]"));
      renumberContacts();
    } else if (button.dataset.move) {
      move(contacts, button.closest("[data-contact]"), button.dataset.move);
      renumberContacts();
      button.focus();
    }
  });

  form.addEventListener("submit", renumberContacts);
  renumberContacts();
})();
