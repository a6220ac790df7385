// Réactif's small shared behaviours. No inline scripts anywhere (CSP):
// pages opt in with data-* attributes.
"use strict";

document.addEventListener("change", (event) => {
  const target = event.target;
  if (target instanceof HTMLSelectElement && target.hasAttribute("data-autosubmit")) {
    target.form.requestSubmit();
  }
});
