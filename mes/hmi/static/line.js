// The unit page (level 2): trends of the step's gauges and its setpoints against actual values.
//
// - A trend shows at most WINDOW points (the page's data-window): the last ones stored when the page
//   opens (GET /api/v1/lots/{lot}/scans), then each live value (`event: value`) appended, the oldest
//   dropped. "Older" pages back through the stored scans WINDOW at a time (the live ones keep coming in
//   behind, as many), "Newer" forward, "Live" back to the newest. Redrawn at most once a frame: it
//   never grows without bound, and never freezes on a long run.
// - x is metres along the band; grey mean line, out-of-spec points red, spec limits dashed dark,
//   control limits dashed light, target dotted.
// - Setpoints: `event: process` (the unit's process values read with each poll) fills the actual
//   value, its deviation from the setpoint and a small trend over time (bounded the same way).
"use strict";

(function () {
  const GREY = "#4a4a4a", RED = "#c8102e", LIMIT = "#2f2f2f", CONTROL = "#8c8c8c", TARGET = "#6b6b6b";

  function formatNumber(value, decimals, unit) {
    if (value === null || value === undefined || !Number.isFinite(value)) return "—";
    const text = value.toLocaleString("en-US", { minimumFractionDigits: decimals, maximumFractionDigits: decimals })
      .replace(/,/g, "\u202f");
    return unit ? `${text} ${unit}` : text;
  }

  function numberOf(el, key) {
    const raw = el.dataset[key];
    return raw === undefined || raw === "" ? null : Number(raw);
  }

  // A bounded series of (x, y) points, x increasing.
  class Window {
    constructor(size) { this.size = size; this.xs = []; this.ys = []; }
    push(x, y) {
      if (this.xs.length && x <= this.xs[this.xs.length - 1]) return false;
      this.xs.push(x); this.ys.push(y);
      if (this.xs.length > this.size) { this.xs.shift(); this.ys.shift(); }
      return true;
    }
    replace(xs, ys) { this.xs = xs.slice(-this.size); this.ys = ys.slice(-this.size); }
    get first() { return this.xs.length ? this.xs[0] : null; }
    get last() { return this.xs.length ? this.xs[this.xs.length - 1] : null; }
  }

  class Trend {
    constructor(el, ctx) {
      this.el = el; this.ctx = ctx;
      this.gauge = el.dataset.gauge;
      this.limits = { lsl: numberOf(el, "lsl"), usl: numberOf(el, "usl"), lcl: numberOf(el, "lcl"),
                      ucl: numberOf(el, "ucl"), target: numberOf(el, "target") };
      this.pitch = numberOf(el, "pitchM") || 0.01;
      this.decimals = Number(el.dataset.decimals || 2);
      this.live = new Window(ctx.window);      // the newest points (stored, then live)
      this.shown = this.live;                  // what the chart shows: live, or a page of history
      this.mode = "live";
      this.atStart = false;
      this.pending = false;
      this.chartEl = el.querySelector("[data-part=chart]");
      this.status = el.querySelector("[data-part=status]");
      this.buttons = Object.fromEntries([...el.querySelectorAll("[data-action]")].map((b) => [b.dataset.action, b]));
      this.buttons.older.addEventListener("click", () => this.older());
      this.buttons.newer.addEventListener("click", () => this.newer());
      this.buttons.live.addEventListener("click", () => this.toLive());
      this.plot = null;
    }

    series() {
      const s = [{}, { label: "mean", stroke: GREY, width: 1.5, points: { show: false } },
        { label: "out of spec", stroke: RED, fill: RED, paths: () => null,
          points: { show: true, size: 7, space: 0, stroke: RED, fill: RED } }];
      const line = (label, stroke, dash) => ({ label, stroke, width: 1, dash, points: { show: false } });
      this.constants = [];
      const add = (key, label, stroke, dash) => {
        if (this.limits[key] === null) return;
        s.push(line(label, stroke, dash)); this.constants.push(this.limits[key]);
      };
      add("lsl", "LSL", LIMIT, [8, 4]); add("usl", "USL", LIMIT, [8, 4]);
      add("lcl", "LCL", CONTROL, [4, 4]); add("ucl", "UCL", CONTROL, [4, 4]);
      add("target", "target", TARGET, [1, 3]);
      return s;
    }

    data() {
      const { xs, ys } = this.shown;
      const { lsl, usl } = this.limits;
      const oos = ys.map((y) => (y !== null && ((lsl !== null && y < lsl) || (usl !== null && y > usl)) ? y : null));
      return [xs, ys, oos, ...this.constants.map((c) => xs.map(() => c))];
    }

    draw() {
      if (this.pending) return;
      this.pending = true;
      requestAnimationFrame(() => {
        this.pending = false;
        if (!window.uPlot) return;
        const width = Math.max(300, this.chartEl.clientWidth);
        if (!this.plot) {
          const unit = this.el.dataset.unitLabel || "";
          this.plot = new window.uPlot({
            width, height: 200, legend: { show: false }, cursor: { drag: { x: false, y: false } },
            scales: { x: { time: false } },
            series: this.series(),
            axes: [
              { label: "m along the band", stroke: "#444", grid: { stroke: "#d9d9d9" }, ticks: { stroke: "#bbb" } },
              { label: unit, stroke: "#444", size: 70, grid: { stroke: "#d9d9d9" }, ticks: { stroke: "#bbb" },
                values: (u, splits) => splits.map((v) => formatNumber(v, this.decimals, "")) },
            ],
          }, this.data(), this.chartEl);
        } else {
          if (Math.abs(this.plot.width - width) > 2) this.plot.setSize({ width, height: 200 });
          this.plot.setData(this.data());
        }
        this.describe();
      });
    }

    describe() {
      const w = this.shown;
      const n = w.xs.length;
      this.el.dataset.points = n;
      this.el.dataset.mode = this.mode;
      this.el.dataset.firstM = w.first ?? "";
      this.el.dataset.lastM = w.last ?? "";
      const range = n ? `${formatNumber(w.first, 2, "")}–${formatNumber(w.last, 2, "m")}` : "no scans yet";
      this.status.textContent = `${this.mode === "live" ? (this.ctx.live ? "live" : "stored") : "history"} · ${n} scans · ${range}`;
      this.buttons.older.disabled = this.atStart || n === 0;
      this.buttons.newer.disabled = this.mode === "live";
      this.buttons.live.disabled = this.mode === "live";
    }

    async fetch(start, end) {
      const params = new URLSearchParams({ characteristic: this.el.dataset.characteristic, start_m: String(Math.max(0, start)) });
      if (end !== null) params.set("end_m", String(end));
      const answer = await window.mes.send("GET", `/api/v1/lots/${encodeURIComponent(this.ctx.lot)}/scans?${params}`);
      return { xs: answer.scans.map((s) => s.position_m), ys: answer.scans.map((s) => s.mean) };
    }

    async load() {
      const newest = numberOf(this.el, "newestM");
      try {
        if (newest !== null) {
          const page = await this.fetch(newest - this.ctx.window * this.pitch, null);
          // Live values that came in while the page was asked for are newer: keep them after it.
          const extra = this.live.xs.map((x, i) => [x, this.live.ys[i]]).filter(([x]) => x > (page.xs.at(-1) ?? -1));
          this.live.replace(page.xs.concat(extra.map((p) => p[0])), page.ys.concat(extra.map((p) => p[1])));
          this.atStart = page.xs.length === 0 || page.xs[0] <= this.pitch / 2;
        } else {
          this.atStart = true;
        }
      } catch (problem) {
        this.status.textContent = `stored scans not read: ${problem.message}`;
      }
      this.draw();
    }

    onValue(v) {
      if (v.gauge !== this.gauge || v.job !== this.ctx.job || v.mean === null) return;
      if (this.live.push(v.position_m, v.mean) && this.mode === "live") this.draw();
    }

    async older() {
      const first = this.shown.first;
      if (first === null) return;
      const page = await this.page(first - this.ctx.window * this.pitch, first);
      if (!page) return;
      if (!page.xs.length) { this.atStart = true; this.describe(); return; }
      this.show(page);
      this.atStart = page.xs[0] <= this.pitch / 2;
      this.draw();
    }

    async newer() {
      const last = this.shown.last;
      if (last === null) return;
      const page = await this.page(last + this.pitch / 2, last + this.ctx.window * this.pitch + this.pitch / 2);
      if (!page) return;
      if (!page.xs.length || (this.live.first !== null && page.xs.at(-1) >= this.live.first)) { this.toLive(); return; }
      this.show(page);
      this.draw();
    }

    async page(start, end) {
      this.buttons.older.disabled = this.buttons.newer.disabled = true;
      try {
        return await this.fetch(start, end);
      } catch (problem) {
        this.status.textContent = `not read: ${problem.message}`;
        this.describe();
        return null;
      }
    }

    show(page) {
      const w = new Window(this.ctx.window);
      w.replace(page.xs, page.ys);
      this.shown = w;
      this.mode = "history";
    }

    toLive() {
      this.shown = this.live;
      this.mode = "live";
      this.atStart = false;
      this.draw();
    }
  }

  // ---- setpoints against actual values ---------------------------------------------------------------
  class Actuals {
    constructor(box, ctx) {
      this.ctx = ctx;
      this.body = box.querySelector("#setpoints [data-part=rows]");
      this.sparks = new Map();
    }

    row(name, unit) {
      let row = this.body && this.body.querySelector(`tr[data-process-name="${CSS.escape(name)}"]`);
      if (!row && this.body) {
        // A process value with no setpoint of the step (position, turns, a dryer temperature): its own row.
        row = document.createElement("tr");
        row.dataset.processName = name; row.dataset.unitLabel = unit || ""; row.dataset.testid = `process-${name}`;
        row.setAttribute("data-testid", `process-${name}`);
        row.innerHTML = '<th scope="row"></th><td class="num none">—</td><td class="num" data-part="actual"></td><td class="num" data-part="deviation"></td><td class="spark" data-part="spark"></td>';
        row.querySelector("th").textContent = name;
        this.body.append(row);
      }
      return row;
    }

    onProcess(p) {
      if (p.unit !== this.ctx.unit || p.job !== this.ctx.job || !this.body) return;
      const t = Date.parse(p.read_at) / 1000;
      for (const [name, value] of Object.entries(p.values)) {
        const row = this.row(name, p.units[name]);
        const decimals = row.dataset.decimals !== undefined ? Number(row.dataset.decimals) : (Math.abs(value) < 10 ? 2 : Math.abs(value) < 100 ? 1 : 0);
        const unit = row.dataset.unitLabel ?? "";
        row.querySelector("[data-part=actual]").textContent = formatNumber(value, decimals, unit);
        const sp = row.dataset.setpoint === undefined ? null : Number(row.dataset.setpoint);
        const dev = row.querySelector("[data-part=deviation]");
        if (sp !== null && sp !== 0) { const pct = (100 * (value - sp)) / Math.abs(sp); dev.textContent = `${pct > 0 ? "+" : ""}${formatNumber(pct, 1, "%")}`; }
        row.dataset.actual = value;
        this.spark(row, name, t, value, sp);
      }
      // A setpoint the unit reports no process value for: said once a reading has come.
      this.body.querySelectorAll("tr[data-setpoint]").forEach((row) => {
        if (!(row.dataset.processName in p.values) && !row.dataset.actual) {
          row.querySelector("[data-part=actual]").innerHTML = '<span class="none">not measured by this unit</span>';
        }
      });
    }

    spark(row, name, t, value, sp) {
      let s = this.sparks.get(name);
      if (!s) {
        s = { w: new Window(this.ctx.window), plot: null, cell: row.querySelector("[data-part=spark]"), pending: false };
        this.sparks.set(name, s);
      }
      s.w.push(t, value);
      row.dataset.points = s.w.xs.length;
      if (s.pending || !window.uPlot) return;
      s.pending = true;
      requestAnimationFrame(() => {
        s.pending = false;
        const data = [s.w.xs, s.w.ys, ...(sp !== null ? [s.w.xs.map(() => sp)] : [])];
        if (!s.plot) {
          const series = [{}, { stroke: GREY, width: 1, points: { show: false } }];
          if (sp !== null) series.push({ stroke: LIMIT, width: 1, dash: [4, 3], points: { show: false } });
          // At least ±5 % of the setpoint in view: a calm value draws flat, not its jitter magnified.
          const band = sp !== null && sp !== 0 ? Math.abs(sp) * 0.05 : 0;
          const y = { range: (u, lo, hi) => (band ? [Math.min(lo, sp - band), Math.max(hi, sp + band)] : [lo, hi]) };
          s.plot = new window.uPlot({ width: 180, height: 40, legend: { show: false }, cursor: { show: false },
            scales: { x: { time: true }, y }, axes: [{ show: false }, { show: false }], series }, data, s.cell);
        } else {
          s.plot.setData(data);
        }
      });
    }
  }

  // ---- wiring -----------------------------------------------------------------------------------------
  let trends = [];
  let actuals = null;
  let box = null;
  let asked = false;

  function start() {
    box = document.getElementById("job-live");
    asked = false;
    const ctx = { unit: box.dataset.unit, job: box.dataset.job, lot: box.dataset.lot,
                  live: box.dataset.live === "true", window: Number(box.dataset.window || 600) };
    trends = [...box.querySelectorAll(".trend[data-gauge]")].map((el) => new Trend(el, ctx));
    actuals = new Actuals(box, ctx);
    trends.forEach((t) => t.load());
  }

  function init() {
    if (!document.getElementById("job-live") || !window.mes) return;
    window.mes.onValue((v) => trends.forEach((t) => t.onValue(v)));
    document.body.addEventListener("mes:process", (ev) => { if (actuals) actuals.onProcess(JSON.parse(ev.detail)); });
    window.addEventListener("resize", () => trends.forEach((t) => t.plot && t.draw()));
    // The unit moved on to another job (the head, drawn again, names it): draw that job's trends.
    document.body.addEventListener("htmx:afterSettle", () => {
      const current = document.getElementById("job-live");
      if (current && current !== box) { start(); return; }
      const head = document.getElementById("unit-head");
      if (head && box && head.dataset.job !== box.dataset.job && !asked) {
        asked = true;
        window.htmx.ajax("GET", location.pathname, { target: "#job-live", select: "#job-live", swap: "outerHTML" });
      }
    });
    start();
  }

  // hmi.js (window.mes) runs after this file: both are deferred, and it comes later in the page.
  if (document.readyState === "complete") init();
  else document.addEventListener("DOMContentLoaded", init);
})();
