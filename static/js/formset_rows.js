// Rows of a Django formset edited in the page (an assistant's variables, a lead's variables and
// contacts), for the pages' own scripts: a new row made from a <template>, a removed row's DELETE
// box ticked and the row hidden, a row moved up or down past the hidden ones.
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
};
