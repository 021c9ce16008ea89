// Rows of a Django formset edited in the page (an assistant's variables, a lead's variables and
// contacts), for the pages' own scripts: a new row made from a <template>, a removed row's DELETE
// box ticked and the row hidden, a row moved up or down past the hidden ones; and a list of rows
// wired to its add, remove and move buttons.
window.formsetRows = {
  // The rows under ``container`` matching ``selector`` that are not removed, in page order.
  visible(container, selector) {
    return [...container.querySelectorAll(`:scope > ${selector}`)].filter((row) => !row.hidden);
  },

  // A new row from the <template> ``id`` appended to ``container``: ``replacements`` made first,
  // then __prefix__ becomes the row's number, which the formset's TOTAL_FORMS ``counter`` counts.
  add(container, id, counter, replacements = []) {
    let html = document.getElementById(id).innerHTML;
    for (const [placeholder, value] of [...replacements, ["__prefix__", counter.value]]) {
      html = html.replaceAll(placeholder, value);
    }
    const holder = document.createElement("div");
    holder.innerHTML = html.trim();
    const row = holder.firstElementChild;
    container.appendChild(row);
    counter.value = Number(counter.value) + 1;
    return row;
  },

  // Removed rows stay in the form, DELETE ticked, so the formset deletes them on save.
  remove(row) {
    row.querySelector("[data-delete]").checked = true;
    row.hidden = true;
  },

  // ``direction``: "up" or "down", past the rows removed in between.
  move(container, row, direction) {
    const step = direction === "up" ? "previousElementSibling" : "nextElementSibling";
    let other = row[step];
    while (other && other.hidden) other = other[step];
    if (!other) return;
    if (direction === "up") container.insertBefore(row, other);
    else container.insertBefore(other, row);
  },

  // A click on a button in ``form`` runs the handler (a function of the button) of the first of
  // ``handlers``' selectors the button matches.
  onButtons(form, handlers) {
    form.addEventListener("click", (event) => {
      const button = event.target.closest("button");
      if (!button) return;
      const match = Object.entries(handlers).find(([selector]) => button.matches(selector));
      if (match) match[1](button);
    });
  },

  // The rows ``row`` of ``container`` (a formset counted by its TOTAL_FORMS input ``total``) wired to
  // their buttons: ``addButton`` appends a row from the <template> ``template`` and focuses its
  // ``focus`` field, a row's ``removeButton`` removes it and its data-move buttons move it.
  // ``renumber`` writes the order after each change, before the form is sent, and now.
  wireList(form, { container, row, template, total, addButton, focus, removeButton, renumber }) {
    const { onButtons, add, remove, move } = window.formsetRows;
    onButtons(form, {
      [addButton]: () => {
        const added = add(container, template, total);
        renumber();
        added.querySelector(focus).focus();
      },
      [removeButton]: (button) => {
        remove(button.closest(row));
        renumber();
      },
      "[data-move]": (button) => {
        move(container, button.closest(row), button.dataset.move);
        renumber();
        button.focus();
      },
    });
    form.addEventListener("submit", renumber);
    renumber();
  },
};
