// Hand-made SVG charts for the AliStach dashboard: columns over time, horizontal bars and
// interval plots. No dependency; colours come from the page's CSS (light and dark).
'use strict';
window.AliChart = (() => {
  const NS = 'http://www.w3.org/2000/svg';

  function el(tag, attrs, text) {
    const node = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function svg(width, height, label) {
    return el('svg', { viewBox: `0 0 ${width} ${height}`, class: 'chart', role: 'img', 'aria-label': label });
  }

  // A tidy upper bound for an axis: 1, 2 or 5 times a power of ten, at least `max`.
  function niceMax(max) {
    if (!(max > 0)) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(max)));
    for (const m of [1, 2, 5, 10]) if (m * p >= max) return m * p;
    return 10 * p;
  }

  // Columns over time. points: [{label, value, title}]; opts: {label, format, height, alt, wide}
  // (`wide` for a chart across the page).
  function columns(points, opts) {
    const W = opts.wide ? 960 : 640, H = opts.height || (opts.wide ? 220 : 200), left = 56, right = 8, top = 10, bottom = 24;
    const s = svg(W, H, opts.label);
    const max = niceMax(Math.max(0, ...points.map((p) => p.value)));
    const plotW = W - left - right, plotH = H - top - bottom;
    for (const f of [0, 0.5, 1]) {
      const y = top + plotH * (1 - f);
      s.append(el('line', { x1: left, x2: W - right, y1: y, y2: y, class: 'grid' }));
      s.append(el('text', { x: left - 6, y: y + 4, 'text-anchor': 'end' }, opts.format(max * f)));
    }
    const n = Math.max(points.length, 1);
    const step = plotW / n;
    const bw = Math.max(1, Math.min(40, step * 0.7));
    points.forEach((p, i) => {
      const h = max > 0 ? (p.value / max) * plotH : 0;
      const x = left + i * step + (step - bw) / 2;
      const r = el('rect', { x: x.toFixed(1), y: (top + plotH - h).toFixed(1), width: bw.toFixed(1), height: Math.max(0, h).toFixed(1), class: opts.alt ? 'bar2' : 'bar' });
      r.append(el('title', {}, p.title || `${p.label}: ${opts.format(p.value)}`));
      s.append(r);
    });
    // First, middle and last labels: enough to read the axis at any width.
    const marks = new Set([0, Math.floor((points.length - 1) / 2), points.length - 1]);
    for (const i of marks) {
      if (i < 0 || !points[i]) continue;
      const x = left + i * step + step / 2;
      s.append(el('text', { x: x.toFixed(1), y: H - 6, 'text-anchor': i === 0 ? 'start' : i === points.length - 1 ? 'end' : 'middle' }, points[i].label));
    }
    return s;
  }

  // A line over time with a soft area under it. Same arguments as columns.
  function line(points, opts) {
    const W = opts.wide ? 960 : 640, H = opts.height || (opts.wide ? 220 : 200), left = 56, right = 8, top = 10, bottom = 24;
    const s = svg(W, H, opts.label);
    const max = niceMax(Math.max(0, ...points.map((p) => p.value)));
    const plotW = W - left - right, plotH = H - top - bottom;
    for (const f of [0, 0.5, 1]) {
      const y = top + plotH * (1 - f);
      s.append(el('line', { x1: left, x2: W - right, y1: y, y2: y, class: 'grid' }));
      s.append(el('text', { x: left - 6, y: y + 4, 'text-anchor': 'end' }, opts.format(max * f)));
    }
    const n = points.length;
    const xOf = (i) => left + (n <= 1 ? plotW / 2 : (i / (n - 1)) * plotW);
    const yOf = (v) => top + plotH * (1 - v / max);
    if (n > 0) {
      const path = points.map((p, i) => `${i ? 'L' : 'M'}${xOf(i).toFixed(1)},${yOf(p.value).toFixed(1)}`).join(' ');
      s.append(el('path', { d: `${path} L${xOf(n - 1).toFixed(1)},${top + plotH} L${xOf(0).toFixed(1)},${top + plotH} Z`, class: 'area' }));
      s.append(el('path', { d: path, class: 'line' }));
      points.forEach((p, i) => {
        const c = el('circle', { cx: xOf(i).toFixed(1), cy: yOf(p.value).toFixed(1), r: n > 60 ? 1.5 : 3, class: 'point' });
        c.append(el('title', {}, p.title || `${p.label}: ${opts.format(p.value)}`));
        s.append(c);
      });
      const marks = new Set([0, Math.floor((n - 1) / 2), n - 1]);
      for (const i of marks) {
        s.append(el('text', { x: xOf(i).toFixed(1), y: H - 6, 'text-anchor': i === 0 ? 'start' : i === n - 1 ? 'end' : 'middle' }, points[i].label));
      }
    }
    return s;
  }

  // Horizontal bars, largest first as given. rows: [{label, value, text}]; opts: {label, format,
  // wide}: `wide` for a chart across the page, else sized for half of it.
  function hbars(rows, opts) {
    const W = opts.wide ? 960 : 560, rowH = 24, labelW = opts.wide ? 300 : 190, right = 60;
    const H = Math.max(rowH, rows.length * rowH) + 4;
    const s = svg(W, H, opts.label);
    const max = Math.max(0, ...rows.map((r) => r.value)) || 1;
    rows.forEach((r, i) => {
      const y = 2 + i * rowH;
      const chars = opts.wide ? 44 : 26;
      const label = r.label.length > chars ? `${r.label.slice(0, chars - 1)}…` : r.label;
      s.append(el('text', { x: labelW - 8, y: y + 16, 'text-anchor': 'end', class: 'label' }, label));
      const w = ((W - labelW - right) * r.value) / max;
      const rect = el('rect', { x: labelW, y: y + 4, width: Math.max(1, w).toFixed(1), height: rowH - 8, rx: 3, class: 'bar' });
      rect.append(el('title', {}, `${r.label}: ${r.text || opts.format(r.value)}`));
      s.append(rect);
      s.append(el('text', { x: labelW + Math.max(1, w) + 6, y: y + 16 }, r.text || opts.format(r.value)));
    });
    return s;
  }

  // Confidence intervals side by side. rows: [{label, low, high, point}]; opts: {label, format}.
  function intervals(rows, opts) {
    const W = 960, rowH = 28, labelW = 160, right = 20, bottom = 20;
    const H = rows.length * rowH + bottom + 4;
    const s = svg(W, H, opts.label);
    const max = niceMax(Math.max(0, ...rows.map((r) => r.high)));
    const plotW = W - labelW - right;
    const xOf = (v) => labelW + (plotW * v) / max;
    for (const f of [0, 0.5, 1]) {
      const x = xOf(max * f);
      s.append(el('line', { x1: x, x2: x, y1: 0, y2: H - bottom, class: 'grid' }));
      s.append(el('text', { x, y: H - 4, 'text-anchor': f === 0 ? 'start' : f === 1 ? 'end' : 'middle' }, opts.format(max * f)));
    }
    rows.forEach((r, i) => {
      const y = 2 + i * rowH + rowH / 2;
      s.append(el('text', { x: labelW - 8, y: y + 4, 'text-anchor': 'end', class: 'label' }, r.label));
      const w = el('line', { x1: xOf(r.low).toFixed(1), x2: Math.max(xOf(r.high), xOf(r.low) + 1).toFixed(1), y1: y, y2: y, class: 'whisker' });
      w.append(el('title', {}, `${r.label}: ${opts.format(r.low)} – ${opts.format(r.high)}`));
      s.append(w);
      if (r.point !== null && r.point !== undefined) {
        s.append(el('circle', { cx: xOf(r.point).toFixed(1), cy: y, r: 4, class: 'point' }));
      }
    });
    return s;
  }

  return { columns, line, hbars, intervals };
})();
