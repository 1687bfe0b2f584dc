// The operator pages' own script: the link to the server, live values, and commands sent to /api/v1.
//
// - Link: the page follows GET /api/v1/events (htmx's SSE extension on <body>) and asks
//   /api/v1/health every HEALTH_EVERY_MS. When either fails, the "no link" banner shows and every
//   command control is disabled; when the stream is open again the page catches up without a reload:
//   the stream resumes from the last event id seen (Last-Event-ID, or ?last_event_id= on a new
//   EventSource) and every live fragment is fetched again (the `mes:catch-up` event).
// - Live values: `event: value` updates every element that shows that unit's gauge, with its age;
//   an element whose value is older than MES_HMI_STALE_AFTER_S is marked stale. `event: process`
//   (a unit's process values) is passed on as the `mes:process` event for the pages that show it.
// - Commands: a <form class="command"> is sent as JSON to the API operation it names, with the
//   session's CSRF token; a confirmation and the signature dialog come first when the form asks.
//   A refusal (RFC 9457 problem) is shown in the form, field by field.
"use strict";

(function () {
  const HEALTH_EVERY_MS = 2000;
  const HEALTH_TIMEOUT_MS = 2000;
  const KINDS = ["order", "step", "lot", "alarm", "unit", "value", "process", "gap", "ready", "end"];
  const meta = (name) => document.querySelector(`meta[name="${name}"]`)?.content ?? "";
  const csrf = () => meta("mes-csrf");
  const staleAfterMs = () => 1000 * Number(meta("mes-stale-after-s") || 10);

  // ---- the link to the server -------------------------------------------------------------------
  let lastEventId = document.body.dataset.since || "";
  let online = true;
  let streamOpen = false;
  let healthy = true;

  window.htmx.createEventSource = function (url) {
    const target = new URL(url, location.href);
    if (lastEventId) target.searchParams.set("last_event_id", lastEventId);
    return new EventSource(target.toString(), { withCredentials: true });
  };

  function setOnline(now) {
    if (now === online) return;
    online = now;
    document.body.classList.toggle("no-link", !now);
    const banner = document.getElementById("link-banner");
    if (banner) banner.hidden = now;
    // A command's opener (a <summary>) cannot be disabled: it is closed and shown disabled (CSS), and
    // a click on it is refused below while there is no link.
    if (!now) document.querySelectorAll("details[open]").forEach((d) => { if (d.querySelector("form.command")) d.open = false; });
    document.querySelectorAll("form.command button, [data-needs-link]").forEach((el) => {
      if (!now && !el.disabled) {
        el.disabled = true;
        el.dataset.offline = "1";
      } else if (now && el.dataset.offline) {
        el.disabled = false;
        delete el.dataset.offline;
      }
    });
    if (now) catchUp();
  }
  const judge = () => setOnline(streamOpen && healthy);

  function catchUp() {
    document.body.dispatchEvent(new CustomEvent("mes:catch-up", { bubbles: true }));
  }

  document.body.addEventListener("htmx:sseOpen", (ev) => {
    const source = ev.detail.source;
    if (!source.mesTracked) {
      source.mesTracked = true;
      KINDS.forEach((kind) => source.addEventListener(kind, (msg) => onEvent(kind, msg)));
    }
    streamOpen = true;
    judge();
  });
  document.body.addEventListener("htmx:sseError", () => {
    streamOpen = false;
    judge();
  });

  function onEvent(kind, msg) {
    if (msg.lastEventId) lastEventId = msg.lastEventId;
    if (kind === "value") onValue(JSON.parse(msg.data));
    else if (kind === "gap") catchUp();
    else if (kind === "end") location.assign(`/login?next=${encodeURIComponent(location.pathname + location.search)}`);
    else if (msg.data) follow(kind, JSON.parse(msg.data));
    document.body.dispatchEvent(new CustomEvent(`mes:${kind}`, { detail: msg.data }));
  }

  // A part of a page about one lot, order or unit (`data-follow="lot:NUMBER"`, `order:NUMBER`,
  // `unit:NAME`) is sent `mes:followed` for the state events that concern it (its steps, alarms and
  // values included), so it refreshes on those only (`hx-trigger="mes:followed throttle:1s"`); htmx
  // trigger filters would need eval, which the pages' security policy forbids.
  function follow(kind, data) {
    if (kind === "value" || kind === "process") return;
    document.querySelectorAll("[data-follow]").forEach((el) => {
      const [what, name] = el.dataset.follow.split(/:(.*)/s);
      const about = { lot: data.lot, order: data.order, unit: data.unit }[what];
      if (about !== undefined && (about === name || (data.entity === name && kind === what))) {
        el.dispatchEvent(new CustomEvent("mes:followed", { detail: data }));
      }
    });
  }

  async function checkHealth() {
    try {
      const answer = await fetch("/api/v1/health", { cache: "no-store", signal: AbortSignal.timeout(HEALTH_TIMEOUT_MS) });
      healthy = answer.ok;
    } catch (_) {
      healthy = false;
    }
    judge();
  }
  if (document.body.hasAttribute("sse-connect")) setInterval(checkHealth, HEALTH_EVERY_MS);

  // ---- live values ----------------------------------------------------------------------------------
  // An element showing a live value: data-live-unit, data-live-gauge; inside it, optional parts
  // [data-part=value] (text), [data-part=marker] (a bar's marker, placed by data-lo/data-hi of the bar),
  // [data-part=age]. data-unit-label and data-decimals format the number.
  const liveListeners = [];
  window.mes = { onValue: (fn) => liveListeners.push(fn), send, lastEventId: () => lastEventId };

  function format(value, decimals, unit) {
    if (value === null || value === undefined || !Number.isFinite(value)) return "—";
    const text = value.toLocaleString("en-US", { minimumFractionDigits: decimals, maximumFractionDigits: decimals }).replace(/,/g, "\u202f");
    return unit ? `${text} ${unit}` : text;
  }

  // A value updates an element unless the element is of another job (data-live-job: a unit's next
  // job measures with the same gauge) or already shows a newer one (a redrawn fragment can be ahead
  // of the stream). The marker is placed by the bar's data-lo/data-hi; out of spec by data-lsl/data-usl.
  function onValue(v) {
    const selector = `[data-live-unit="${CSS.escape(v.unit)}"][data-live-gauge="${CSS.escape(v.gauge)}"]`;
    const at = Date.parse(v.measured_at);
    document.querySelectorAll(selector).forEach((el) => {
      if (el.dataset.liveJob && el.dataset.liveJob !== v.job) return;
      if (el.dataset.at && Date.parse(el.dataset.at) > at) return;
      const decimals = Number(el.dataset.decimals ?? 2);
      const part = (name) => el.querySelector(`[data-part="${name}"]`);
      const has = v.mean !== null && v.mean !== undefined && Number.isFinite(v.mean);
      if (part("value")) part("value").textContent = format(v.mean, decimals, el.dataset.unitLabel || "");
      el.dataset.at = v.measured_at;
      el.dataset.value = has ? v.mean : "";
      const bar = el.querySelector("[data-lo]");
      const marker = part("marker");
      if (marker && bar) {
        const lo = Number(bar.dataset.lo), hi = Number(bar.dataset.hi);
        marker.hidden = !has || !(hi > lo);
        if (!marker.hidden) marker.style.left = `${Math.min(100, Math.max(0, (100 * (v.mean - lo)) / (hi - lo)))}%`;
      }
      const limits = bar || el;
      const lsl = limits.dataset.lsl === undefined ? -Infinity : Number(limits.dataset.lsl);
      const usl = limits.dataset.usl === undefined ? Infinity : Number(limits.dataset.usl);
      el.classList.toggle("out-of-spec", has && (v.mean < lsl || v.mean > usl));
      markAge(el);
    });
    document.querySelectorAll(`[data-live-progress="${CSS.escape(v.unit)}"]`).forEach((el) => {
      if (el.dataset.lot && el.dataset.lot !== v.lot) return;
      if (el.dataset.job && el.dataset.job !== v.job) return;
      const length = Number(el.dataset.lengthM);
      const done = Math.min(length > 0 ? length : Infinity, Math.max(Number(el.dataset.doneM || 0), v.position_m));
      el.dataset.doneM = done;
      const bar = el.querySelector("[data-part=bar]");
      if (bar && length > 0) bar.style.width = `${Math.min(100, (100 * done) / length)}%`;
      const text = el.querySelector("[data-part=done]");
      if (text) text.textContent = format(done, 1, "m");
    });
    liveListeners.forEach((fn) => fn(v));
  }

  function ageText(ms) {
    const s = Math.max(0, Math.round(ms / 1000));
    if (s < 60) return `${s} s`;
    const m = Math.floor(s / 60);
    if (m < 60) return `${m} min ${String(s % 60).padStart(2, "0")} s`;
    return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, "0")} min`;
  }

  function markAge(el) {
    if (!el.dataset.at) return;
    const age = Date.now() - Date.parse(el.dataset.at);
    const stale = age > staleAfterMs();
    el.classList.toggle("stale", stale);
    const ageEl = el.querySelector('[data-part="age"]');
    if (ageEl) ageEl.textContent = ageText(age);
    el.title = `measured ${new Date(el.dataset.at).toISOString()} UTC${stale ? " — stale" : ""}`;
  }
  const markAll = () => document.querySelectorAll("[data-live-gauge][data-at]").forEach(markAge);
  setInterval(markAll, 1000);
  // A fragment drawn again shows its values' age and staleness at once, not up to a second later.
  document.body.addEventListener("htmx:afterSettle", markAll);
  markAll();

  // ---- commands ---------------------------------------------------------------------------------
  class Problem extends Error {
    constructor(body, status) {
      super(body.detail || body.title || `HTTP ${status}`);
      this.body = body;
      this.status = status;
    }
  }

  // Send one API operation; resolve with its JSON (or null), reject with a Problem.
  async function send(method, path, body, headers = {}) {
    const init = { method, headers: { Accept: "application/json", "X-CSRF-Token": csrf(), ...headers } };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let answer;
    try {
      answer = await fetch(path, init);
    } catch (_) {
      throw new Problem({ title: "No link", detail: "the server did not answer; nothing was sent" }, 0);
    }
    const text = await answer.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (_) { data = { detail: text.slice(0, 300) }; }
    if (!answer.ok) throw new Problem(data || {}, answer.status);
    return data;
  }

  function bodyOf(form) {
    const body = {};
    const put = (name, value) => {
      const parts = name.split(".");
      let node = body;
      parts.slice(0, -1).forEach((p) => (node = node[p] ??= {}));
      const last = parts[parts.length - 1];
      if (name.endsWith("[]")) (node[last.slice(0, -2)] ??= []).push(value);
      else node[last] = value;
    };
    for (const el of form.elements) {
      if (!el.name || el.disabled || el.dataset.local !== undefined) continue;
      const type = el.dataset.type || "text";
      if ((el.type === "checkbox" || el.type === "radio") && type !== "bool" && !el.checked) continue;
      if (type === "bool") { put(el.name, el.checked); continue; }
      if (el.value === "" && el.dataset.required === undefined) continue;
      // A number is sent as typed when it is not one exactly (the API refuses it and says why): never
      // parseInt's "1e3" → 1 or a number input's rounding, which would change what was meant.
      const text = el.value.trim();
      if (type === "number") put(el.name, /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text) && Number.isFinite(Number(text)) ? Number(text) : text);
      else if (type === "int") put(el.name, /^[+-]?\d+$/.test(text) && Number.isSafeInteger(Number(text)) ? Number(text) : text);
      else put(el.name, el.value);
    }
    return body;
  }

  function showProblem(where, problem) {
    if (problem.status === 401 && !where?.closest("form#login")) {  // the session ended (logged out elsewhere, idle): log in again, then back
      location.assign(`/login?next=${encodeURIComponent(location.pathname + location.search)}`);
      return;
    }
    if (!where) return;
    const body = problem.body || {};
    const errors = body.errors || [];
    where.replaceChildren();
    const head = document.createElement("strong");
    head.textContent = `${body.title || "Refused"}${problem.status ? ` (${problem.status})` : ""}: `;
    // With its fields listed below, the detail (the same list in one line) is not repeated.
    where.append(head, document.createTextNode(errors.length ? "" : body.detail || problem.message));
    errors.forEach((e) => {
      const line = document.createElement("div");
      const at = e.line ? ` (line ${e.line}${e.column ? `, column ${e.column}` : ""})` : "";
      const msg = String(e.msg || "").replace(/^Value error, /, "");
      line.textContent = `${(e.loc || []).filter((p) => p !== "body").join(".") || e.field || "request"}${at}: ${msg}`;
      line.className = "field-problem";
      where.append(line);
    });
    where.hidden = false;
  }

  function dialog(id) { return document.getElementById(id); }

  function confirmFirst(text) {
    const box = dialog("confirm-dialog");
    if (!text || !box) return Promise.resolve(true);
    box.querySelector("[data-role=message]").textContent = text;
    return new Promise((resolve) => {
      box.addEventListener("close", () => resolve(box.returnValue === "ok"), { once: true });
      box.showModal();
    });
  }

  // The signature dialog: resolves with {reason, signature} or null (cancelled). `attempt(extra)`
  // sends the command; a refusal keeps the dialog open with the reason shown.
  function signFirst(form, attempt) {
    const box = dialog("sign-dialog");
    const inner = box.querySelector("form");
    inner.reset();
    box.querySelector("[data-role=action]").textContent = form.dataset.sign;
    if (form.dataset.meaning) inner.elements.meaning.value = form.dataset.meaning;
    // `data-meanings="approval review"`: the meanings the API takes for this action; others disabled.
    const allowed = (form.dataset.meanings || "").split(/\s+/).filter(Boolean);
    for (const option of inner.elements.meaning.options) option.disabled = allowed.length > 0 && !allowed.includes(option.value);
    const where = box.querySelector("[data-role=problem]");
    where.hidden = true;
    return new Promise((resolve) => {
      let sending = false;
      const onSubmit = async (ev) => {
        ev.preventDefault();
        if (ev.submitter && ev.submitter.value === "cancel") { if (!sending) finish(null); return; }
        if (sending) return;  // a double click signs once
        const signature = { name: inner.elements.name.value, password: inner.elements.password.value,
                            meaning: inner.elements.meaning.value };
        const extra = { reason: inner.elements.reason.value, signature };
        sending = true;
        inner.querySelectorAll("button").forEach((b) => (b.disabled = true));
        try {
          finish(await attempt(extra));
        } catch (problem) {
          inner.elements.password.value = "";
          showProblem(where, problem);
        } finally {
          sending = false;
          inner.querySelectorAll("button").forEach((b) => (b.disabled = !online));
        }
      };
      const finish = (value) => {
        inner.removeEventListener("submit", onSubmit);
        box.close();
        resolve(value);
      };
      inner.addEventListener("submit", onSubmit);
      box.addEventListener("cancel", () => finish(null), { once: true });
      box.showModal();
    });
  }

  function done(form, answer) {
    const how = form.dataset.done || "refresh";
    if (how.startsWith("go:")) {
      const url = how.slice(3).replace(/\{([\w.]+)\}/g, (_, key) =>
        encodeURIComponent(key.split(".").reduce((o, k) => (o ? o[k] : ""), answer) ?? ""));
      location.assign(url);
    } else {
      window.htmx.ajax("GET", location.href, { target: "#main", select: "#main", swap: "outerHTML" });
      catchUp();
    }
  }

  document.addEventListener("submit", async (ev) => {
    const form = ev.target;
    if (!(form instanceof HTMLFormElement) || !form.classList.contains("command")) return;
    ev.preventDefault();
    const where = form.querySelector("[data-role=problem]");
    if (where) where.hidden = true;
    if (!online) { showProblem(where, new Problem({ title: "No link", detail: "the server cannot be reached" }, 0)); return; }
    if (!(await confirmFirst(form.dataset.confirm))) return;
    const headers = {};
    if (form.dataset.idempotent !== undefined) {
      form.dataset.key ||= crypto.randomUUID();
      headers["Idempotency-Key"] = form.dataset.key;
    }
    const attempt = (extra) => send(form.dataset.method || "POST", form.dataset.path, { ...bodyOf(form), ...extra }, headers);
    const buttons = [...form.querySelectorAll("button")];
    buttons.forEach((b) => (b.disabled = true));
    try {
      const answer = form.dataset.sign ? await signFirst(form, attempt) : await attempt({});
      if (answer !== null || !form.dataset.sign) {
        delete form.dataset.key;
        done(form, answer);
      }
    } catch (problem) {
      showProblem(where, problem);
    } finally {
      buttons.forEach((b) => { if (!b.dataset.offline) b.disabled = false; });
    }
  });

  // Log in: the form is posted to the API (form fields), then the page it came from is opened.
  document.addEventListener("submit", async (ev) => {
    const form = ev.target;
    if (!(form instanceof HTMLFormElement) || form.id !== "login") return;
    ev.preventDefault();
    const where = form.querySelector("[data-role=problem]");
    where.hidden = true;
    try {
      const answer = await fetch("/api/v1/login", { method: "POST", body: new URLSearchParams(new FormData(form)) });
      if (answer.ok) { location.assign(form.dataset.next || "/"); return; }
      const body = await answer.json().catch(() => ({}));
      showProblem(where, new Problem(body, answer.status));
    } catch (_) {
      showProblem(where, new Problem({ title: "No link", detail: "the server did not answer" }, 0));
    }
  });

  document.addEventListener("click", (ev) => {
    const opener = ev.target.closest("summary");
    if (!online && opener && opener.parentElement.querySelector("form.command")) ev.preventDefault();
  }, true);

  // Log out: end the session on the server, then go to the login page.
  document.addEventListener("click", async (ev) => {
    const button = ev.target.closest("[data-action=logout]");
    if (!button) return;
    try { await send("POST", "/api/v1/logout"); } catch (_) { /* the session may be gone already */ }
    location.assign("/login");
  });
})();
