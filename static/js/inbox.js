// Réactif's inbox: countdowns, keyboard, composer, live polling.
// No inline scripts anywhere (CSP): everything hangs on data-* attributes
// rendered by the server. Customer text is never read as HTML here.
"use strict";

(() => {
  const root = document.getElementById("inbox-root");
  if (!root) return;
  const screen = root.dataset.screen;

  // --- Clock: countdowns tick on the client, from the server's clock -------
  // The offset corrects a laptop whose clock drifts: "2 min left" must mean
  // two minutes on the server that decides what is missed. The server stamps
  // its time while it renders the page, so the stamp is compared with when
  // the request was in flight (the midpoint of its start and the response's,
  // as NTP does), not with when this script runs: on a slow load (a phone on
  // 3G fetching the assets, a busy browser) that is seconds later, and every
  // countdown would lag by that much.
  const navigation = performance.getEntriesByType?.("navigation")[0];
  const inFlight = navigation?.responseStart
    ? performance.timeOrigin + (navigation.requestStart + navigation.responseStart) / 2
    : Date.now();
  const offset = Number(root.dataset.serverNow || inFlight) - inFlight;
  const units = {
    d: root.dataset.unitD || "d", h: root.dataset.unitH || "h",
    min: root.dataset.unitMin || "min", s: root.dataset.unitS || "s",
  };
  const pad = (n) => String(n).padStart(2, "0");

  // Same format as inbox_tags.format_duration on the server.
  function formatDuration(ms) {
    let total = Math.floor(Math.abs(ms) / 1000);
    const days = Math.floor(total / 86400); total -= days * 86400;
    const hours = Math.floor(total / 3600); total -= hours * 3600;
    const minutes = Math.floor(total / 60);
    const seconds = total - minutes * 60;
    if (days) return hours ? `${days} ${units.d} ${hours} ${units.h}` : `${days} ${units.d}`;
    if (hours) return minutes ? `${hours} ${units.h} ${pad(minutes)} ${units.min}` : `${hours} ${units.h}`;
    if (minutes >= 10 || (minutes && !seconds)) return `${minutes} ${units.min}`;
    if (minutes) return `${minutes} ${units.min} ${pad(seconds)} ${units.s}`;
    return `${seconds} ${units.s}`;
  }

  function tick() {
    const now = Date.now() + offset;
    for (const el of document.querySelectorAll(".js-countdown[data-due]")) {
      const due = Number(el.dataset.due);
      if (!due) continue;
      const left = due - now;
      const text = el.dataset.mode === "left" ? formatDuration(Math.max(left, 0)) : formatDuration(left);
      if (el.textContent !== text) el.textContent = text;
      if (el.dataset.mode === "left") continue;
      const holder = el.closest("[data-row], .side-deadline");
      if (!holder) continue;
      const atRisk = Number(holder.dataset.atRisk || 60) * 1000;
      holder.classList.toggle("is-missed", left < 0);
      holder.classList.toggle("is-at-risk", left >= 0 && left <= atRisk);
      const label = holder.querySelector(".js-countdown-label");
      const labelText = left < 0 ? root.dataset.labelLate : root.dataset.labelLeft;
      if (label && labelText && label.textContent !== labelText) label.textContent = labelText;
    }
  }
  tick();
  setInterval(tick, 1000);

  // --- Toasts (HX-Trigger "inbox:notice" from the queue's row actions) -----
  const toast = document.getElementById("toast");
  let toastTimer = 0;
  document.body.addEventListener("inbox:notice", (event) => {
    if (!toast || !event.detail || !event.detail.text) return;
    toast.textContent = event.detail.text;  // text, never HTML
    toast.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { toast.hidden = true; }, 4000);
  });

  // --- Live polling: pause in background tabs, catch up on return ----------
  document.body.addEventListener("htmx:confirm", (event) => {
    const elt = event.detail && event.detail.elt;
    if (elt && elt.id === "live" && document.hidden) event.preventDefault();
  });
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden && window.htmx) window.htmx.trigger(document.body, "inbox:poll");
  });

  // --- Help dialog -----------------------------------------------------------
  const help = document.getElementById("keys-help");
  function showHelp() {
    if (help && !help.open && typeof help.showModal === "function") help.showModal();
  }
  document.addEventListener("click", (event) => {
    if (event.target.closest("[data-keys-help]")) showHelp();
  });

  // --- Queue selection (j/k) ---------------------------------------------------
  let selectedId = null;
  const rows = () => Array.from(document.querySelectorAll("[data-row]"));

  function select(row, focus = true) {
    for (const other of document.querySelectorAll("[data-row].is-selected")) other.classList.remove("is-selected");
    if (!row) { selectedId = null; return; }
    row.classList.add("is-selected");
    selectedId = row.dataset.conversation;
    const link = row.querySelector(".row-link");
    if (focus && link) link.focus({ preventScroll: true });
    row.scrollIntoView({ block: "nearest" });
  }

  function selectedRow() {
    return selectedId ? document.querySelector(`[data-row][data-conversation="${CSS.escape(selectedId)}"]`) : null;
  }

  function move(step) {
    const all = rows();
    if (!all.length) return;
    const current = selectedRow() || document.activeElement.closest?.("[data-row]");
    const index = current ? all.indexOf(current) : -1;
    const next = index === -1 ? (step > 0 ? 0 : all.length - 1) : Math.min(all.length - 1, Math.max(0, index + step));
    select(all[next]);
  }

  // The live refresh replaces the rows: keep the agent's place.
  let selectedIndex = -1;
  document.body.addEventListener("htmx:beforeSwap", (event) => {
    if (event.detail.target && event.detail.target.id === "queue-results") {
      selectedIndex = rows().indexOf(selectedRow());
    }
  });
  document.body.addEventListener("htmx:afterSettle", () => {
    if (screen !== "queue" || !selectedId) return;
    const row = selectedRow();
    const hadFocus = document.activeElement === document.body;
    if (row) select(row, hadFocus);
    else if (selectedIndex >= 0) {
      const all = rows();
      select(all[Math.min(selectedIndex, all.length - 1)] || null, hadFocus);
    }
  });

  // --- Keyboard ----------------------------------------------------------------
  function click(selector, scope = document) {
    const el = scope && scope.querySelector(selector);
    if (el && !el.disabled) { el.click(); return true; }
    return false;
  }

  function isTyping(target) {
    return target instanceof HTMLElement &&
      (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName));
  }

  document.addEventListener("keydown", (event) => {
    const target = event.target;
    // Ctrl+Enter (Cmd+Enter on a Mac) sends from the composer.
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && target.id === "composer-text") {
      event.preventDefault();
      const send = document.getElementById("composer-send");
      if (send && !send.disabled) target.form.requestSubmit(send);
      else { const anyway = target.form.querySelector(".warn-button"); if (anyway) anyway.focus(); }
      return;
    }
    if (event.key === "Escape" && isTyping(target)) { target.blur(); return; }
    if (isTyping(target) || event.ctrlKey || event.metaKey || event.altKey) return;
    if (help && help.open) return;

    switch (event.key) {
      case "?":
        event.preventDefault(); showHelp(); return;
      case "/": {
        event.preventDefault();
        const search = document.getElementById("queue-search");
        if (search) { search.focus(); search.select(); }
        else window.location.href = `${root.dataset.queueUrl || "/"}#search`;
        return;
      }
      case "r": {
        const composer = document.getElementById("composer-text");
        if (composer) { event.preventDefault(); composer.focus(); }
        return;
      }
      default:
    }
    if (screen === "queue") {
      if (event.key === "j" || event.key === "ArrowDown" && selectedId) { event.preventDefault(); move(1); }
      else if (event.key === "k" || event.key === "ArrowUp" && selectedId) { event.preventDefault(); move(-1); }
      else if (event.key === "Enter" && selectedId && !target.closest?.("a, button")) {
        const link = selectedRow()?.querySelector(".row-link");
        if (link) { event.preventDefault(); link.click(); }
      } else if (event.key === "e") { if (click('[data-row-action="done"]', selectedRow())) event.preventDefault(); }
      else if (event.key === "a") { if (click('[data-row-action="assign"]', selectedRow())) event.preventDefault(); }
    } else if (screen === "conversation") {
      if (event.key === "e") { if (click('[data-action="done"]')) event.preventDefault(); }
      else if (event.key === "a") { if (click('[data-action="assign"]')) event.preventDefault(); }
    }
  });

  if (screen === "queue" && window.location.hash === "#search") {
    const search = document.getElementById("queue-search");
    if (search) search.focus();
  }

  // --- Conversation: thread scroll, composer -------------------------------------
  if (screen !== "conversation") return;
  const conversationId = root.dataset.conversation;
  const draftKey = `reactif:draft:${conversationId}`;

  const nearBottom = () => window.innerHeight + window.scrollY >= document.body.scrollHeight - 120;
  const toBottom = () => window.scrollTo({ top: document.body.scrollHeight });
  toBottom();
  let wasNearBottom = true;
  window.addEventListener("scroll", () => { wasNearBottom = nearBottom(); }, { passive: true });
  for (const name of ["htmx:afterSettle", "htmx:oobAfterSwap"]) {
    document.body.addEventListener(name, () => { if (wasNearBottom) toBottom(); });
  }

  function storage() {
    try { return window.localStorage; } catch { return null; }
  }

  function setUpComposer() {
    const form = document.getElementById("composer");
    const text = document.getElementById("composer-text");
    if (!form || !text) return;
    const store = storage();
    if (form.hasAttribute("data-sent")) {
      if (store) store.removeItem(draftKey);
      text.focus();
    } else if (store && !text.value) {
      // A draft survives a reload, a crash or a wrong click.
      const draft = store.getItem(draftKey);
      if (draft) text.value = draft;
    }
    const count = form.querySelector(".composer-count");
    const update = () => {
      if (store) { if (text.value) store.setItem(draftKey, text.value); else store.removeItem(draftKey); }
      if (count) {
        const max = Number(count.dataset.max || 0);
        count.textContent = text.value.length ? `${text.value.length} / ${max}` : "";
        count.classList.toggle("is-over", max > 0 && text.value.length > max);
      }
    };
    text.addEventListener("input", update);
    update();
  }
  setUpComposer();
  document.body.addEventListener("htmx:load", (event) => {
    if (event.detail.elt && event.detail.elt.id === "composer") setUpComposer();
  });

  // "Reply publicly / privately" under a comment: point the composer at it.
  document.addEventListener("click", (event) => {
    const button = event.target.closest("[data-reply-to]");
    if (!button) return;
    const form = document.getElementById("composer");
    if (!form) return;
    const select = form.querySelector("#composer-comment");
    if (select) select.value = button.dataset.replyTo;
    const radio = form.querySelector(`input[name="channel"][value="${CSS.escape(button.dataset.channel)}"]`);
    if (radio) radio.checked = true;
    form.classList.toggle("is-private-reply", button.dataset.channel === "private_reply");
    const text = document.getElementById("composer-text");
    if (text) text.focus();
  });
  document.addEventListener("change", (event) => {
    if (event.target.name === "channel" && event.target.form && event.target.form.id === "composer") {
      event.target.form.classList.toggle("is-private-reply", event.target.value === "private_reply");
    }
  });
})();
