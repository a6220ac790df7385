// The settings page's small helpers. No inline scripts (CSP): buttons opt in
// with data-* attributes, and the listener is delegated so htmx swaps keep working.
"use strict";

document.addEventListener("click", (event) => {
  const button = event.target instanceof Element ? event.target.closest("[data-check-days]") : null;
  if (!button) return;
  const form = button.closest("form");
  const days = new Set(button.getAttribute("data-check-days").split(","));
  for (const box of form.querySelectorAll('input[type="checkbox"][name="to"]')) {
    box.checked = days.has(box.value);
  }
});
