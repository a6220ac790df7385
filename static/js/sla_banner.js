// The live SLA banner's optional browser notification, and nothing else.
// No inline script anywhere (CSP): the banner carries its texts in data-*.
"use strict";

(() => {
  const KEY = "reactif:sla-missed";
  const supported = "Notification" in window;

  function banner() {
    return document.getElementById("sla-banner");
  }

  function showButton(root) {
    const button = root && root.querySelector("[data-sla-notify]");
    if (button) {
      button.hidden = !(supported && Notification.permission === "default");
    }
  }

  function check() {
    const root = banner();
    if (!root) return;
    showButton(root);
    const missed = Number(root.dataset.slaMissed || 0);
    const before = Number(sessionStorage.getItem(KEY) || 0);
    sessionStorage.setItem(KEY, String(missed));
    const away = document.visibilityState !== "visible" || !document.hasFocus();
    if (missed > before && supported && Notification.permission === "granted" && away) {
      const note = new Notification(root.dataset.notifyTitle, {
        body: root.dataset.notifyBody || "",
        tag: "reactif-sla",
      });
      const url = root.dataset.notifyUrl;
      note.addEventListener("click", () => {
        window.focus();
        if (url) window.location.assign(url);
        note.close();
      });
    }
  }

  document.addEventListener("click", (event) => {
    const button = event.target instanceof Element && event.target.closest("[data-sla-notify]");
    if (!button || !supported) return;
    Notification.requestPermission().then(() => showButton(banner()));
  });
  document.addEventListener("htmx:afterSettle", check);
  document.addEventListener("DOMContentLoaded", check);
})();
