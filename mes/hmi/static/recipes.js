// The recipe pages' script. On the import page a recipe document is pasted, or read from a file
// (FileReader) into the text area, and sent as YAML (not as JSON, as hmi.js's command forms send) to
// POST /api/v1/recipes. On success the new version opens; on a refusal every located problem the API
// lists (line, column, field) is shown, and choosing one puts the cursor on that place in the document.
"use strict";

(function () {
  // A version opened after an import says what the import did, once: a refresh after a command
  // (hmi.js fetches location.href again) must not repeat it.
  const here = new URL(location.href);
  if (here.searchParams.has("imported")) {
    here.searchParams.delete("imported");
    history.replaceState(history.state, "", here.pathname + here.search + here.hash);
  }

  const form = document.getElementById("recipe-import");
  if (!form) return;
  const text = form.elements.document;
  const file = document.getElementById("recipe-file");
  const lines = form.querySelector("[data-role=lines]");
  const problem = form.querySelector("[data-role=problem]");
  const errors = form.querySelector("[data-role=errors]");
  const fileName = form.querySelector("[data-role=file-name]");
  const submit = form.querySelector("button[type=submit]");
  const csrf = () => document.querySelector('meta[name="mes-csrf"]')?.content ?? "";

  // Line numbers beside the document, so that "line 42" can be found by eye too. They are moved with
  // a transform, not scrolled: Chromium restores a clamped scroll offset of its own after a resize.
  const numbers = document.createElement("span");
  numbers.className = "numbers";
  lines.replaceChildren(numbers);
  const follow = () => { numbers.style.transform = `translateY(${-text.scrollTop}px)`; };
  function number() {
    const count = text.value.split("\n").length;
    if (numbers.dataset.count !== String(count)) {
      numbers.textContent = Array.from({ length: count }, (_, i) => i + 1).join("\n");
      numbers.dataset.count = String(count);
    }
    follow();
  }
  text.addEventListener("input", number);
  text.addEventListener("scroll", follow);
  new ResizeObserver(follow).observe(text);
  number();

  function clear() {
    problem.hidden = true;
    problem.replaceChildren();
    errors.hidden = true;
    errors.tBodies[0].replaceChildren();
  }

  file.addEventListener("change", () => {
    const chosen = file.files[0];
    if (!chosen) return;
    clear();
    const reader = new FileReader();
    reader.onload = () => {
      text.value = reader.result;
      fileName.textContent = `${chosen.name} (${chosen.size} bytes) read`;
      number();
    };
    reader.onerror = () => say("Cannot read the file", `${chosen.name}: ${reader.error?.message || "unreadable"}`);
    reader.readAsText(chosen, "utf-8");
  });

  function say(title, detail) {
    const head = document.createElement("strong");
    head.textContent = `${title}: `;
    problem.replaceChildren(head, document.createTextNode(detail));
    problem.hidden = false;
  }

  // Put the cursor on LINE:COLUMN of the document (1-based) and bring it into view.
  function goTo(line, column) {
    const all = text.value.split("\n");
    const row = Math.min(Math.max(1, line), all.length);
    let start = 0;
    for (let i = 0; i < row - 1; i++) start += all[i].length + 1;
    const here = all[row - 1];
    const from = Math.min(Math.max(0, (column || 1) - 1), here.length);
    // Select the value the problem is about: up to the next space, comma, brace or comment.
    const token = here.slice(from).match(/^[^\s,{}\[\]#]*/)[0];
    text.focus();
    text.setSelectionRange(start + from, start + from + (token.length || here.length - from));
    const height = parseFloat(getComputedStyle(text).lineHeight) || 20;
    text.scrollTop = Math.max(0, (row - 3) * height);
    number();
  }

  function showErrors(list) {
    const body = errors.tBodies[0];
    list.forEach((e) => {
      const row = body.insertRow();
      row.dataset.testid = "import-error";
      row.dataset.line = e.line ?? "";
      row.dataset.column = e.column ?? "";
      row.dataset.field = e.field ?? "";
      [e.line ?? "—", e.column ?? "—", e.field || "(document)", e.msg].forEach((value, i) => {
        const cell = row.insertCell();
        cell.textContent = String(value);
        if (i < 2) cell.className = "num";
        if (i === 2) cell.className = "id";
      });
      const go = document.createElement("button");
      go.type = "button";
      go.textContent = "Show";
      go.title = `Put the cursor on line ${e.line}, column ${e.column}`;
      go.dataset.testid = "import-error-show";
      go.disabled = !e.line;
      go.addEventListener("click", () => goTo(Number(e.line), Number(e.column)));
      row.insertCell().append(go);
    });
    errors.hidden = list.length === 0;
  }

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    clear();
    if (document.body.classList.contains("no-link")) {
      say("No link", "the server cannot be reached; nothing was sent");
      return;
    }
    submit.disabled = true;
    try {
      const answer = await fetch(form.dataset.path, {
        method: "POST",
        headers: { "Content-Type": "application/yaml; charset=utf-8", Accept: "application/json", "X-CSRF-Token": csrf() },
        body: text.value,
      });
      const body = await answer.json().catch(() => ({}));
      if (answer.ok) {
        location.assign(`/recipes/${encodeURI(body.recipe.ref)}?imported=${encodeURIComponent(body.outcome)}`);
        return;
      }
      const found = body.errors || [];
      say(`${body.title || "Refused"} (${answer.status})`,
          found.length ? `${found.length} problem${found.length === 1 ? "" : "s"} in the document; nothing was stored.` : (body.detail || ""));
      showErrors(found);
      problem.scrollIntoView({ block: "nearest" });
    } catch (_) {
      say("No link", "the server did not answer; nothing was stored");
    } finally {
      if (!submit.dataset.offline) submit.disabled = false;
    }
  });
})();
