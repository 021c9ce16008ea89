// The lead form: add and remove variables, add, remove and reorder secondary contacts.
// Rows are Django formset forms; removing one ticks its DELETE box, order is kept in ORDER fields.
(() => {
  const form = document.getElementById("lead-form");
  if (!form) return;
  const contacts = document.getElementById("contacts");

  const total = (prefix) => form.querySelector(`input[name="${prefix}-TOTAL_FORMS"]`);

  function fromTemplate(id, replacements) {
    let html = document.getElementById(id).innerHTML;
    for (const [placeholder, value] of replacements) html = html.replaceAll(placeholder, value);
    const holder = document.createElement("div");
    holder.innerHTML = html.trim();
    return holder.firstElementChild;
  }

  function renumberContacts() {
    const visible = [...contacts.querySelectorAll(":scope > [data-contact]")].filter((c) => !c.hidden);
    visible.forEach((card, i) => {
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
      const counter = total(prefix);
      const row = fromTemplate("variable-row-template", [["__vp__", prefix], ["__prefix__", counter.value]]);
      box.querySelector("[data-rows]").appendChild(row);
      counter.value = Number(counter.value) + 1;
      row.querySelector("input").focus();
    } else if (button.hasAttribute("data-remove-variable")) {
      const row = button.closest("[data-variable-row]");
      row.querySelector("[data-delete]").checked = true;
      row.hidden = true;
    } else if (button.id === "add-contact") {
      const counter = total("contacts");
      const card = fromTemplate("contact-template", [["__prefix__", counter.value]]);
      contacts.appendChild(card);
      counter.value = Number(counter.value) + 1;
      renumberContacts();
      card.querySelector("[data-contact-phone]").focus();
    } else if (button.hasAttribute("data-remove-contact")) {
      const card = button.closest("[data-contact]");
      card.querySelector(":scope [data-delete]").checked = true;
      card.hidden = true;
      renumberContacts();
    } else if (button.dataset.move) {
      const card = button.closest("[data-contact]");
      const step = button.dataset.move === "up" ? "previousElementSibling" : "nextElementSibling";
      let other = card[step];
      while (other && other.hidden) other = other[step];
      if (other) {
        if (button.dataset.move === "up") contacts.insertBefore(card, other);
        else contacts.insertBefore(other, card);
      }
      renumberContacts();
      button.focus();
    }
  });

  form.addEventListener("submit", renumberContacts);
  renumberContacts();
})();
