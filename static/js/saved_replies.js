// The saved-reply editor: buttons that insert a variable where the caret is.
// The live preview itself is htmx (form.html), re-rendered by the server.
"use strict";

document.addEventListener("click", (event) => {
  const button = event.target.closest && event.target.closest("[data-insert-variable]");
  if (!button) return;
  const body = document.getElementById("id_body");
  if (!body) return;
  const placeholder = `{{ ${button.dataset.insertVariable} }}`;
  const start = body.selectionStart;
  const end = body.selectionEnd;
  body.value = body.value.slice(0, start) + placeholder + body.value.slice(end);
  body.focus();
  body.setSelectionRange(start + placeholder.length, start + placeholder.length);
  body.dispatchEvent(new Event("input", { bubbles: true }));
});
