// The composer's saved-reply picker: type "/" then a few letters, choose
// with ↑/↓, insert with Enter (or a click), close with Esc. The server
// renders the saved reply for this conversation (contact, agent, Page) and
// says where the caret goes: the text stays editable, to be adapted.
// No inline script anywhere (CSP): everything is delegated from document,
// so a composer re-rendered by htmx keeps working.
"use strict";

(() => {
  if (window.reactifComposer) return; // loaded once, whatever the includes
  window.reactifComposer = true;

  const TEXTAREA_ID = "composer-text";
  const SAVED_REPLY_ID = "composer-saved-reply";
  const FETCH_DELAY_MS = 80;
  // What may follow "/" in a shortcut query: letters (accents too), digits, "-", "_".
  const QUERY_CHAR = /[\p{L}\p{N}_-]/u;

  let state = null; // {textarea, token, active, timer, seq, dismissedAt}
  let dismissedAt = -1; // Esc closes the picker for this "/" until it is retyped
  let requestSeq = 0;

  const textarea = () => document.getElementById(TEXTAREA_ID);
  const parts = () => {
    const area = textarea();
    const form = area && area.form;
    const root = form ? form.querySelector("[data-sr-composer]") : document.querySelector("[data-sr-composer]");
    if (!area || !root) return null;
    return {
      area,
      form,
      root,
      picker: root.querySelector("[data-sr-picker]"),
      list: root.querySelector("[role=listbox]"),
    };
  };

  // The "/query" just before the caret: "/" at the start or after white space,
  // then shortcut characters only.
  function tokenAt(area) {
    if (area.selectionStart !== area.selectionEnd) return null;
    const caret = area.selectionStart;
    const text = area.value;
    let i = caret;
    while (i > 0 && QUERY_CHAR.test(text[i - 1])) i -= 1;
    if (i === 0 || text[i - 1] !== "/") return null;
    const slash = i - 1;
    if (slash > 0 && !/\s/.test(text[slash - 1])) return null; // a URL, a date, "and/or"
    return { start: slash, end: caret, query: text.slice(i, caret) };
  }

  function options(p) {
    return Array.from(p.list.querySelectorAll('[role=option]:not([aria-disabled="true"])'));
  }

  function setActive(p, index) {
    const items = options(p);
    items.forEach((item, i) => item.setAttribute("aria-selected", i === index ? "true" : "false"));
    if (!state) return;
    state.active = items.length ? Math.max(0, Math.min(index, items.length - 1)) : -1;
    const current = items[state.active];
    if (current) {
      p.area.setAttribute("aria-activedescendant", current.id);
      current.scrollIntoView({ block: "nearest" });
    } else {
      p.area.removeAttribute("aria-activedescendant");
    }
  }

  function close() {
    const p = parts();
    if (state && state.timer) clearTimeout(state.timer);
    state = null;
    requestSeq += 1; // any answer still on its way is stale
    if (!p) return;
    p.picker.hidden = true;
    p.area.setAttribute("aria-expanded", "false");
    p.area.removeAttribute("aria-activedescendant");
  }

  function load(p, token) {
    const seq = ++requestSeq;
    const url = new URL(p.root.dataset.pickerUrl, window.location.href);
    url.searchParams.set("q", token.query);
    fetch(url, { headers: { "HX-Request": "true" }, credentials: "same-origin" })
      .then((response) => (response.ok ? response.text() : Promise.reject(response.status)))
      .then((html) => {
        if (seq !== requestSeq || !state) return;
        // Our own server's template output, auto-escaped there.
        p.list.innerHTML = html;
        p.picker.hidden = false;
        p.area.setAttribute("aria-expanded", "true");
        setActive(p, 0);
      })
      .catch(() => {
        if (seq === requestSeq) close();
      });
  }

  function update() {
    const p = parts();
    if (!p) return;
    const token = tokenAt(p.area);
    if (!token || token.start === dismissedAt) {
      if (!token) dismissedAt = -1;
      close();
      return;
    }
    if (!state) state = { active: -1, timer: null };
    state.token = token;
    if (state.timer) clearTimeout(state.timer);
    state.timer = setTimeout(() => load(p, token), FETCH_DELAY_MS);
  }

  function insert(option) {
    const p = parts();
    if (!p || !option || !option.dataset.insertUrl) return;
    const token = state && state.token ? state.token : null;
    const from = token ? token.start : p.area.selectionStart;
    const to = token ? token.end : p.area.selectionEnd;
    close();
    fetch(option.dataset.insertUrl, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then((response) => (response.ok ? response.json() : Promise.reject(response.status)))
      .then((data) => {
        const area = p.area;
        const text = String(data.text);
        area.value = area.value.slice(0, from) + text + area.value.slice(to);
        const caret = from + (Number.isInteger(data.cursor) ? data.cursor : text.length);
        const hidden = document.getElementById(SAVED_REPLY_ID);
        if (hidden) hidden.value = String(data.id);
        area.focus();
        area.setSelectionRange(caret, caret);
        area.dispatchEvent(new Event("input", { bubbles: true }));
        document.body.dispatchEvent(new CustomEvent("sr:inserted", { bubbles: true, detail: { id: data.id } }));
      })
      .catch(() => {
        p.area.focus();
      });
  }

  document.addEventListener("input", (event) => {
    if (event.target.id !== TEXTAREA_ID) return;
    // An emptied draft no longer comes from a saved reply.
    if (!event.target.value.trim()) {
      const hidden = document.getElementById(SAVED_REPLY_ID);
      if (hidden) hidden.value = "";
    }
    update();
  });

  // Moving the caret elsewhere (click, Home/End) closes or reopens the picker.
  document.addEventListener("click", (event) => {
    if (event.target.id === TEXTAREA_ID) update();
  });

  // Capture phase: the picker's keys never reach the inbox's own shortcuts.
  document.addEventListener(
    "keydown",
    (event) => {
      if (event.target.id !== TEXTAREA_ID || !state) return;
      const p = parts();
      if (!p || p.picker.hidden) return;
      const items = options(p);
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        if (!items.length) return;
        const step = event.key === "ArrowDown" ? 1 : -1;
        setActive(p, (state.active + step + items.length) % items.length);
      } else if (event.key === "Enter" && !event.shiftKey && !event.ctrlKey && !event.metaKey) {
        if (!items.length) return;
        insert(items[Math.max(0, state.active)]);
      } else if (event.key === "Escape") {
        dismissedAt = state.token ? state.token.start : -1;
        close();
      } else {
        return;
      }
      event.preventDefault();
      event.stopPropagation();
    },
    true,
  );

  // A click in the list must not take the focus from the textarea first.
  document.addEventListener("mousedown", (event) => {
    if (event.target.closest && event.target.closest("[data-sr-picker]")) {
      if (!event.target.closest("a")) event.preventDefault();
    }
  });

  document.addEventListener("click", (event) => {
    const option = event.target.closest && event.target.closest("[data-sr-picker] [role=option]");
    if (option && option.dataset.insertUrl) {
      insert(option);
      return;
    }
    const opener = event.target.closest && event.target.closest("[data-open-picker]");
    if (opener) {
      const area = textarea();
      if (!area) return;
      const caret = area.selectionStart;
      const before = area.value.slice(0, caret);
      const slash = before === "" || /\s$/.test(before) ? "/" : " /";
      area.value = before + slash + area.value.slice(area.selectionEnd);
      area.focus();
      area.setSelectionRange(caret + slash.length, caret + slash.length);
      dismissedAt = -1;
      update();
      return;
    }
    // "Reply privately / publicly" under a comment (the inbox's own buttons, and
    // the suggestion beside a comment holding personal data): inbox.js points
    // the composer at the comment; the guidance then follows the new channel.
    if (event.target.closest && event.target.closest("[data-reply-to]")) {
      setTimeout(() => document.body.dispatchEvent(new CustomEvent("sr:refresh", { bubbles: true })), 0);
      return;
    }
    if (state && !(event.target.closest && event.target.closest("[data-sr-composer]"))) close();
  });

  document.addEventListener("focusout", (event) => {
    if (event.target.id !== TEXTAREA_ID) return;
    // Let a click on an option land first.
    setTimeout(() => {
      if (document.activeElement && document.activeElement.id !== TEXTAREA_ID) close();
    }, 150);
  });

  // The textarea announces the picker to screen readers.
  function wire() {
    const p = parts();
    if (!p) return;
    p.area.setAttribute("aria-autocomplete", "list");
    p.area.setAttribute("aria-controls", p.list.id);
    p.area.setAttribute("aria-expanded", "false");
  }
  document.addEventListener("DOMContentLoaded", wire);
  document.addEventListener("htmx:afterSettle", wire);
  if (document.readyState !== "loading") wire();
})();
