// The pages' charts, drawn by uPlot (node_modules/uplot, served by the platform under
// /vendor/uplot; base.html loads it and this file before app.js on every page).
// Two kinds, one call each:
//   CouponChainCharts.time(el, { x, series, kind })   x in epoch seconds: a time axis
//   CouponChainCharts.categories(el, { labels, series })  one bar group per label
// `series` is [{ label, values, colour, text }]; `kind` is "line" or "bars" (the
// default); `stacked` stacks bars; `integer` keeps the y ticks whole; `format` turns a
// value into the text hovering shows and the y axis labels, unless a series brings
// its own hover `text` per point (exact amounts the drawn floats only approximate).
// `el` is the chart's element: the page's placeholder <canvas> (its height and
// aria-label are kept) or the canvas an earlier call drew. uPlot's canvas takes over
// the placeholder's id, with data-points (how many x values it drew), so a page
// redraws by id; a chart of the same shape is updated in place (a hover stays put).
// uPlot sizes its canvas by devicePixelRatio (crisp on phones), follows its box's
// width, and names the value under the pointer in its legend.
"use strict";

window.CouponChainCharts = (() => {
  const ACCENT = "#0b6bcb", INK = "#1d2433", MUTED = "#5b6475", GRID = "#e3e7ee";
  const FONT = "12px system-ui, sans-serif";
  const INTEGER_STEPS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4,
                         1e5, 2e5, 5e5, 1e6, 2e6, 5e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12];
  // Time ticks no finer than a second (the data never is), up to a year.
  const TIME_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800,
                      21600, 43200, 86400, 2 * 86400, 7 * 86400, 14 * 86400, 30 * 86400,
                      91 * 86400, 365 * 86400];
  const charts = new Map(); // element id -> { u, shape, state }

  function lang() {
    return document.documentElement.lang || undefined;
  }

  function plainNumber(v) {
    return v == null ? "—" : Number(v).toLocaleString(lang());
  }

  // Tick labels in the page's language: dates for spans of days, times otherwise.
  function timeTicks(u, splits, axisIdx, space, incr) {
    const options = incr >= 86400 ? { month: "short", day: "numeric" }
      : incr >= 60 ? { hour: "2-digit", minute: "2-digit" }
        : { hour: "2-digit", minute: "2-digit", second: "2-digit" };
    const f = new Intl.DateTimeFormat(lang(), options);
    return splits.map((s) => f.format(new Date(s * 1000)));
  }

  function fullTime(v) {
    return v == null ? "—" : new Date(v * 1000).toLocaleString(lang());
  }

  // Wide enough for the longest tick label, so large numbers are not cut off.
  const ruler = document.createElement("canvas").getContext("2d");
  function axisSize(u, values) {
    if (!values || !values.length) return 40;
    ruler.font = FONT;
    return Math.ceil(Math.max(...values.map((v) => ruler.measureText(String(v)).width))) + 18;
  }

  // The cumulative sums the stacked bars are drawn from, biggest first (drawn first,
  // so each smaller sum overdraws it): uPlot draws series in order.
  function stackedRows(series) {
    const sums = [];
    let running = series[0].values.map(() => 0);
    for (const s of series) {
      running = running.map((r, i) => r + (Number(s.values[i]) || 0));
      sums.push(running);
    }
    return sums.reverse();
  }

  function options(el, spec, state, width, height) {
    const time = spec.x !== undefined;
    const bars = spec.kind !== "line";
    const format = spec.format || plainNumber;
    const ordered = spec.stacked ? [...spec.series].reverse() : spec.series;
    const many = ordered.length;
    const series = [{
      label: spec.xLabel || (time ? t("time") : " "),
      value: time ? (u, v) => fullTime(v)
        : (u, v) => (v == null ? "—" : String(state.labels[Math.round(v)] ?? "")),
    }];
    ordered.forEach((s, k) => {
      const colour = s.colour || ACCENT;
      // Grouped bars sit side by side around their label; stacked ones overlap.
      const align = !bars || spec.stacked || many === 1 ? 0 : k === 0 ? -1 : 1;
      series.push({
        label: s.label,
        stroke: colour,
        fill: bars ? colour : undefined,
        width: bars ? 0 : 2,
        points: { show: !bars && state.points < 60 },
        paths: bars ? uPlot.paths.bars({ size: [many > 1 && !spec.stacked ? 0.4 : 0.7, 64],
                                         align })
          : undefined,
        // A category chart names the hovered label with the value (its legend has no
        // x entry: see app.css).
        value: (u, v, si, i) => {
          if (i == null) return "—";
          const shown = state.text[si - 1] ? String(state.text[si - 1][i])
            : format(state.raw[si - 1][i]);
          return time ? shown : `${state.labels[i]} · ${shown}`;
        },
      });
    });
    return {
      width, height,
      pxAlign: 1,
      cursor: { drag: { x: false, y: false }, points: { show: !bars } },
      legend: { live: true },
      scales: {
        x: time ? { time: true }
          : { time: false, range: (u, min, max) => [-0.5, Math.max(0, state.labels.length - 0.5)] },
        // Bars stand on zero; a line (the chain head) keeps its own span, so a
        // change of one in a million still shows.
        y: { range: bars ? (u, min, max) => [Math.min(0, min), Math.max(1, max) * 1.08]
          : (u, min, max) => uPlot.rangeNum(min, max === min ? max + 1 : max, 0.1, true) },
      },
      axes: [
        {
          stroke: MUTED, font: FONT, grid: { show: false }, ticks: { stroke: GRID },
          ...(time ? { values: timeTicks, space: 60, incrs: TIME_STEPS }
            : { incrs: INTEGER_STEPS, space: 40,
                values: (u, splits) => splits.map((i) => state.labels[i] ?? "") }),
        },
        {
          stroke: MUTED, font: FONT, grid: { stroke: GRID, width: 1 }, ticks: { show: false },
          size: axisSize,
          ...(spec.integer ? { incrs: INTEGER_STEPS } : {}),
          values: (u, splits) => splits.map(format),
        },
      ],
      series,
    };
  }

  function data(spec, state) {
    const time = spec.x !== undefined;
    const ordered = spec.stacked ? [...spec.series].reverse() : spec.series;
    state.raw = ordered.map((s) => s.values);
    state.text = ordered.map((s) => s.text || null);
    state.labels = time ? [] : spec.labels.map(String);
    const xs = time ? spec.x : spec.labels.map((_, i) => i);
    state.points = xs.length;
    const drawn = spec.stacked ? stackedRows(spec.series)
      : ordered.map((s) => s.values.map((v) => (v == null ? null : Number(v))));
    return [xs, ...drawn];
  }

  function draw(el, spec) {
    if (!el) return null;
    if (typeof uPlot === "undefined") { // the set-up has not installed node_modules
      el.dataset.points = String((spec.x || spec.labels).length);
      return null;
    }
    const id = el.id;
    const shape = [spec.x !== undefined, spec.kind, spec.stacked, spec.series.length,
                   spec.series.map((s) => s.label).join("|")].join("/");
    const known = charts.get(id);
    if (known && known.shape === shape && known.u.ctx.canvas === el) {
      known.u.setData(data(spec, known.state));
      el.dataset.points = String(known.state.points);
      return known.u;
    }
    // The placeholder's size and name, or those an earlier chart kept on its canvas.
    const height = Number(el.dataset.chartHeight || el.getAttribute("height")) || 200;
    const label = el.getAttribute("aria-label") || "";
    let box = known ? known.u.root.parentElement : null;
    if (known) known.u.destroy();
    if (!box) {
      box = document.createElement("div");
      box.className = "chart-box";
      el.replaceWith(box);
      new ResizeObserver(() => {
        const entry = charts.get(id), width = box.clientWidth;
        if (entry && width && width !== entry.u.width) {
          entry.u.setSize({ width, height: entry.u.height });
        }
      }).observe(box);
    }
    const state = { raw: [], text: [], labels: [], points: 0 };
    const u = new uPlot(options(el, spec, state, box.clientWidth || 320, height),
                        data(spec, state), box);
    box.classList.toggle("chart-categories", spec.x === undefined);
    const canvas = u.ctx.canvas;
    canvas.id = id;
    canvas.setAttribute("role", "img");
    if (label) canvas.setAttribute("aria-label", label);
    canvas.dataset.chartHeight = String(height);
    canvas.dataset.points = String(state.points);
    charts.set(id, { u, shape, state });
    return u;
  }

  return {
    // A time series: spec.x holds epoch seconds.
    time: (el, spec) => draw(el, spec),
    // Bars per label: spec.labels names each group.
    categories: (el, spec) => draw(el, { ...spec, x: undefined }),
    ACCENT, INK, MUTED,
  };
})();
