// Status changes: a button (or a chosen option) with data-confirm asks before the lead leaves the
// calling queue.
document.addEventListener("submit", (event) => {
  const chosen = event.submitter?.dataset.confirm
    ? event.submitter
    : event.target.querySelector('select[name="target"] option:checked');
  const question = chosen?.dataset.confirm;
  if (question && !window.confirm(question)) event.preventDefault();
});
