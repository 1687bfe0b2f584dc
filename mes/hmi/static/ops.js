// The alarm and order pages' own script (loaded after hmi.js).
//
// - A live list ([data-live-list]) is redrawn on its events (hx-trigger); while a person is in the
//   middle of a command in it (a "Shelve…"/"Pause…" form open, a field focused or typed into), the
//   redraw waits and runs once they are done, so an alarm arriving never wipes a half-typed reason.
// - A shelved alarm comes back by itself at its expiry: the list is redrawn then (a shelving running
//   out writes no event until the server expires it).
"use strict";

(function () {
  const LISTS = "[data-live-list]";

  function busy(list) {
    if (list.querySelector("details[open]")) return true;
    const focused = document.activeElement;
    if (focused && list.contains(focused) && focused.matches("input, textarea, select")) return true;
    return [...list.querySelectorAll("form.command input:not([type=hidden]), form.command textarea")].some((el) => el.value);
  }

  // Not by triggering the list's own hx-trigger: htmx throttles an element's triggers together, and
  // the redraw that waited must not be dropped because an event has just been throttled.
  function refresh(list) {
    delete list.dataset.refreshPending;
    window.htmx.ajax("GET", list.getAttribute("hx-get"), { source: list, target: list, select: `#${list.id}`, swap: "outerHTML" });
  }

  // htmx asks before each request; a list that is busy answers "later".
  document.body.addEventListener("htmx:confirm", (ev) => {
    const list = ev.detail.elt;
    if (!(list instanceof Element) || !list.matches(LISTS)) return;
    if (busy(list)) {
      ev.preventDefault();
      list.dataset.refreshPending = "1";
    }
  });

  function settle() {
    // After focus or a <details> moved: run a redraw that waited, once nothing is in progress.
    setTimeout(() => {
      document.querySelectorAll(`${LISTS}[data-refresh-pending]`).forEach((list) => {
        if (!busy(list)) refresh(list);
      });
    }, 0);
  }
  document.addEventListener("focusout", settle);
  document.addEventListener("toggle", settle, true);
  document.addEventListener("input", settle);

  // Redraw when the first shelving on the page runs out.
  let expiryTimer = null;
  function watchShelving() {
    clearTimeout(expiryTimer);
    const ends = [...document.querySelectorAll("[data-shelved-until]")]
      .map((el) => Date.parse(el.dataset.shelvedUntil))
      .filter((t) => Number.isFinite(t));
    if (!ends.length) return;
    const wait = Math.max(0, Math.min(...ends) - Date.now()) + 1000;
    expiryTimer = setTimeout(() => document.querySelectorAll(LISTS).forEach(refresh), Math.min(wait, 2 ** 31 - 1));
  }
  document.body.addEventListener("htmx:afterSettle", watchShelving);
  watchShelving();
})();
