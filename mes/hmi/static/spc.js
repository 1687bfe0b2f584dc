// The SPC page's control chart: the chart's JSON (embedded in the page, the answer of
// GET /api/v1/spc/chart) drawn with uPlot. Points in grey, the centre line solid and the control
// limits dashed (each lot's own limits), a point where a run rule fired marked with an amber
// triangle, a segment mean beyond the spec with a red square, lot boundaries as dotted lines with
// the lot number. The x axis is the point's place in the chart; its label is metres of its lot.
"use strict";

(function () {
  const holder = document.getElementById("spc-chart");
  const source = document.getElementById("spc-data");
  if (!holder || !source || !window.uPlot) return;
  const chart = JSON.parse(source.textContent);
  const n = chart.mean.length;
  const x = Array.from({ length: n }, (_, i) => i);
  const centre = new Array(n).fill(null);
  const ucl = new Array(n).fill(null);
  const lcl = new Array(n).fill(null);
  const lotOf = new Array(n).fill("");
  chart.lots.forEach((run) => {
    for (let i = run.first; i < run.first + run.count; i++) {
      lotOf[i] = run.lot;
      if (run.limits) {
        centre[i] = run.limits.center;
        ucl[i] = run.limits.ucl;
        lcl[i] = run.limits.lcl;
      }
    }
  });
  const fired = [...new Set(chart.violations.map((v) => v.index))];
  const beyondSpec = x.filter((i) => chart.mean[i] < chart.lsl || chart.mean[i] > chart.usl);
  const unit = chart.value_unit;
  const css = getComputedStyle(document.documentElement);
  const amber = css.getPropertyValue("--ooc").trim() || "#d98a00";
  const red = css.getPropertyValue("--oos").trim() || "#c8102e";

  function marks(u) {
    const ctx = u.ctx;
    const px = (i) => u.valToPos(i, "x", true);
    const py = (v) => u.valToPos(v, "y", true);
    const size = 7 * devicePixelRatio;
    ctx.save();
    // Lot boundaries, with the lot's number at the top.
    ctx.strokeStyle = "#777";
    ctx.setLineDash([2 * devicePixelRatio, 3 * devicePixelRatio]);
    ctx.fillStyle = "#444";
    ctx.font = `${11 * devicePixelRatio}px system-ui, sans-serif`;
    ctx.textAlign = "left"; // uPlot leaves the alignment of its last axis label
    ctx.textBaseline = "alphabetic";
    chart.lots.forEach((run, k) => {
      const left = px(run.first - 0.5);
      if (k > 0) {
        ctx.beginPath();
        ctx.moveTo(left, u.bbox.top);
        ctx.lineTo(left, u.bbox.top + u.bbox.height);
        ctx.stroke();
      }
      const at = Math.max(left, u.bbox.left) + 4 * devicePixelRatio;
      if (chart.lots.length > 1) ctx.fillText(run.lot, at, u.bbox.top + 14 * devicePixelRatio);
    });
    ctx.setLineDash([]);
    // Beyond spec: a red square; a rule fired: an amber triangle with a dark edge (a shape, not only a colour).
    ctx.fillStyle = red;
    beyondSpec.forEach((i) => ctx.fillRect(px(i) - size / 2, py(chart.mean[i]) - size / 2, size, size));
    ctx.fillStyle = amber;
    ctx.strokeStyle = "#3a2a00";
    ctx.lineWidth = devicePixelRatio;
    fired.forEach((i) => {
      const cx = px(i), cy = py(chart.mean[i]) - size * 0.9;
      ctx.beginPath();
      ctx.moveTo(cx, cy - size * 0.8);
      ctx.lineTo(cx + size * 0.8, cy + size * 0.6);
      ctx.lineTo(cx - size * 0.8, cy + size * 0.6);
      ctx.closePath();
      ctx.fill();
      ctx.stroke();
    });
    ctx.restore();
    holder.dataset.drawnViolations = String(fired.length);
    holder.dataset.drawnBeyondSpec = String(beyondSpec.length);
  }

  const fmt = (v, digits = 1) => (v === null || v === undefined ? "—" : `${v.toFixed(digits)} ${unit}`);
  const metres = (i) => (i >= 0 && i < n ? `${chart.start_m[i].toFixed(1)} m` : "");
  const size = () => ({ width: Math.max(320, holder.clientWidth - 2), height: Math.max(260, Math.min(420, window.innerHeight * 0.45)) });
  const opts = {
    ...size(),
    legend: { live: true },
    cursor: { points: { size: 6 } },
    scales: { x: { time: false } },
    axes: [
      { label: chart.lots.length > 1 ? "segments, lot after lot (metres of each lot)" : "metres along the band",
        values: (u, splits) => splits.map((i) => metres(Math.round(i))), stroke: "#333", grid: { stroke: "#ddd" } },
      { label: `segment mean [${unit}]`, stroke: "#333", grid: { stroke: "#ddd" }, size: 70 },
    ],
    series: [
      { label: "at", value: (u, i) => (i === null ? "—" : `${lotOf[i]} ${metres(i)}`) },
      { label: "mean", stroke: "#4a4a4a", width: 1, value: (u, v) => fmt(v, 2),
        points: { show: n <= 600, size: 4, stroke: "#4a4a4a", fill: "#4a4a4a" } },
      { label: "centre", stroke: "#222", width: 1, value: (u, v) => fmt(v, 2), points: { show: false } },
      { label: "UCL", stroke: "#222", width: 1.5, dash: [8, 5], value: (u, v) => fmt(v, 2), points: { show: false } },
      { label: "LCL", stroke: "#222", width: 1.5, dash: [8, 5], value: (u, v) => fmt(v, 2), points: { show: false } },
    ],
    hooks: { draw: [marks] },
  };
  const plot = new window.uPlot(opts, [x, chart.mean, centre, ucl, lcl], holder);
  holder.dataset.ready = "1";
  window.addEventListener("resize", () => plot.setSize(size()));
})();
