// The AliStach dashboard: a single-page app over the admin API. It holds no data of its own:
// every number comes from the API, called with the key the operator signs in with. The key is
// kept in this tab's sessionStorage and sent only as an Authorization header, never in a URL.
'use strict';
(() => {
  const KEY = 'alistach.adminKey';
  const THEME = 'alistach.theme';
  const RANGE = 'alistach.range';
  const VIEWS = ['overview', 'searches', 'revenue', 'experiments', 'webhooks', 'alerts', 'health'];
  const RANGES = { '24h': 1, '7d': 7, '30d': 30, '90d': 90 };

  // `/dashboard#key=…` signs in: the fragment never reaches the server; read it, then take it
  // out of the address bar (and the history) before anything else runs.
  if (location.hash.startsWith('#key=')) {
    let key = location.hash.slice('#key='.length);
    try { key = decodeURIComponent(key); } catch (_) { /* the raw text, then */ }
    history.replaceState(null, '', `${location.pathname}${location.search}#overview`);
    if (key) sessionStorage.setItem(KEY, key);
  }

  const $ = (sel) => document.querySelector(sel);
  const state = { seq: 0, health: null, range: localStorage.getItem(RANGE) || '7d' };
  if (!RANGES[state.range]) state.range = '7d';

  // ---- formatting -------------------------------------------------------------------------
  const intFmt = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
  const dec1 = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });
  const dec2 = new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 });
  const compact = new Intl.NumberFormat(undefined, { notation: 'compact', maximumFractionDigits: 1 });
  const pctFmt = new Intl.NumberFormat(undefined, { style: 'percent', maximumFractionDigits: 1 });
  const dateTimeFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
  const dayFmt = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric', timeZone: 'UTC' });
  const hourFmt = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric', hour: 'numeric' });
  const minuteFmt = new Intl.DateTimeFormat(undefined, { hour: 'numeric', minute: '2-digit' });
  const rel = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });
  const moneyFmts = new Map();

  const fmt = {
    int: (n) => (n === null || n === undefined ? '–' : intFmt.format(n)),
    compact: (n) => (Math.abs(n) >= 10000 ? compact.format(n) : dec2.format(n)),
    pct: (ratio) => (ratio === null || ratio === undefined || Number.isNaN(ratio) ? '–' : pctFmt.format(ratio)),
    ms: (v) => {
      if (v === null || v === undefined) return '–';
      return v < 1000 ? `${dec1.format(v)} ms` : `${dec2.format(v / 1000)} s`;
    },
    // Money keeps the API's exact decimal text: Intl formats a string without going through a
    // binary float.
    money: (text, currency) => {
      if (text === null || text === undefined) return '–';
      let f = moneyFmts.get(currency);
      if (!f) {
        try {
          f = new Intl.NumberFormat(undefined, { style: 'currency', currency });
        } catch (_) {
          f = { format: (t) => `${t} ${currency}` };
        }
        moneyFmts.set(currency, f);
      }
      return f.format(text);
    },
    duration: (seconds) => {
      const s = Math.max(0, Math.floor(seconds));
      const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
      if (d) return `${d} d ${h} h`;
      if (h) return `${h} h ${m} min`;
      if (m) return `${m} min`;
      return `${s} s`;
    },
    time: (iso) => (iso ? dateTimeFmt.format(new Date(iso)) : '–'),
    ago: (iso) => {
      if (!iso) return '–';
      const secs = (new Date(iso).getTime() - Date.now()) / 1000;
      const abs = Math.abs(secs);
      if (abs < 60) return rel.format(Math.round(secs), 'second');
      if (abs < 3600) return rel.format(Math.round(secs / 60), 'minute');
      if (abs < 86400) return rel.format(Math.round(secs / 3600), 'hour');
      return rel.format(Math.round(secs / 86400), 'day');
    },
  };

  // ---- DOM helpers ------------------------------------------------------------------------
  // Elements are built with textContent only: product titles and URLs are data, never markup.
  function h(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'text') node.textContent = v;
      else if (k === 'class') node.className = v;
      else if (k === 'testid') node.dataset.testid = v;
      else if (k === 'value' && tag !== 'input' && tag !== 'option') node.dataset.value = String(v);
      else if (k === 'onclick') node.addEventListener('click', v);
      else node.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }

  // A figure: label, formatted value (with the raw API value in data-value), optional hint.
  function stat(label, text, testid, raw, hint) {
    return h('div', { class: 'stat' },
      h('div', { class: 'label', text: label }),
      h('div', { class: 'value', testid, value: raw, text }),
      hint ? h('div', { class: 'hint', text: hint }) : null);
  }

  function card(title, ...children) {
    return h('section', { class: 'card' }, title ? h('h2', {}, title) : null, ...children);
  }

  function empty(testid, strong, ...rest) {
    return h('div', { class: 'empty', testid }, h('strong', { text: strong }), ' ', ...rest);
  }

  function table(headers, rows, testid) {
    return h('div', { class: 'table-wrap' },
      h('table', { testid },
        h('thead', {}, h('tr', {}, headers.map((x) => (typeof x === 'string'
          ? h('th', { text: x })
          : h('th', { class: x.num ? 'num' : null, text: x.label }))))),
        h('tbody', {}, rows)));
  }

  function td(text, opts) {
    return h('td', Object.assign({ text }, opts || {}));
  }

  function num(text, testid, raw) {
    return h('td', { class: 'num', text, testid, value: raw });
  }

  function badge(text, kind) {
    return h('span', { class: `badge ${kind}`, text });
  }

  // ---- the API ----------------------------------------------------------------------------
  class SignedOut extends Error {}

  async function api(path) {
    const key = sessionStorage.getItem(KEY);
    if (!key) throw new SignedOut('');
    const resp = await fetch(path, {
      headers: { Authorization: `Bearer ${key}`, Accept: 'application/json' },
      cache: 'no-store',
      credentials: 'omit',
      referrerPolicy: 'no-referrer',
    });
    let body = null;
    try { body = await resp.json(); } catch (_) { body = null; }
    if (resp.status === 401) {
      sessionStorage.removeItem(KEY);
      throw new SignedOut((body && body.detail) || 'the key was refused');
    }
    if (!resp.ok) {
      const err = new Error((body && body.detail) || `${resp.status} ${resp.statusText}`);
      err.status = resp.status;
      throw err;
    }
    return body;
  }

  // A view's call that may fail on its own (the rest of the view still renders).
  async function attempt(promise) {
    try {
      return { ok: true, value: await promise };
    } catch (e) {
      if (e instanceof SignedOut) throw e;
      return { ok: false, error: e };
    }
  }

  function failure(what, err) {
    return h('div', { class: 'empty failure', testid: 'view-error' },
      h('strong', { text: `${what} could not be loaded: ` }), err.message);
  }

  // The time range as the API's `from` (inclusive, UTC): whole minutes, so the page and a
  // test reading `data-from` ask the same question.
  function rangeFrom() {
    const days = RANGES[state.range];
    const ms = Math.floor((Date.now() - days * 86400000) / 60000) * 60000;
    return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
  }

  // The UTC days from `from` to today, for charts with a bar per day.
  function daysSince(from) {
    const out = [];
    const d = new Date(`${from.slice(0, 10)}T00:00:00Z`);
    const end = new Date();
    while (d <= end && out.length < 400) {
      out.push(d.toISOString().slice(0, 10));
      d.setUTCDate(d.getUTCDate() + 1);
    }
    return out;
  }

  // ---- views ------------------------------------------------------------------------------
  const views = {};

  // The range's heading: what `from` the view asked the API for (the test reads it too).
  function rangeTitle(title, from) {
    return h('h1', { class: 'view-title' }, `${title} `,
      h('span', { class: 'muted', testid: 'range-from', value: from, text: `since ${fmt.time(from)}` }));
  }

  // A label for a series point at the series' step.
  function stepLabel(iso, step) {
    const d = new Date(iso);
    if (step === 'day') return dayFmt.format(d);
    if (step === 'hour') return hourFmt.format(d);
    return minuteFmt.format(d);
  }

  function series(res, opts) {
    if (!res.ok) return failure(opts.label, res.error);
    const data = res.value.data;
    const points = data.points.map((p) => ({ label: stepLabel(p.t, data.step), value: p.value === null ? 0 : p.value,
      title: `${stepLabel(p.t, data.step)}: ${p.value === null ? '–' : opts.format(p.value)}` }));
    return card(h('span', {}, `${opts.label} `, h('span', { class: 'muted', text: `per ${data.step}` })),
      (opts.kind === 'columns' ? AliChart.columns : AliChart.line)(points, { label: opts.label, format: opts.format, alt: opts.alt, wide: opts.wide }));
  }

  views.overview = async (root) => {
    const from = rangeFrom();
    const q = `from=${encodeURIComponent(from)}`;
    const [ov, requests, errors] = await Promise.all([
      attempt(api(`/api/admin/analytics/overview?${q}`)),
      attempt(api(`/api/admin/analytics/timeseries?metric=requests&${q}`)),
      attempt(api(`/api/admin/analytics/timeseries?metric=errors&${q}`)),
    ]);
    root.append(rangeTitle('Overview', from));
    if (!ov.ok) {
      root.append(failure('The usage overview', ov.error));
      return;
    }
    const d = ov.value.data;
    const stats = h('div', { class: 'stats' },
      stat('Requests', fmt.int(d.requests), 'overview-requests', d.requests),
      stat('Latency p50', fmt.ms(d.latency_ms.p50), 'overview-latency-p50', d.latency_ms.p50),
      stat('Latency p99', fmt.ms(d.latency_ms.p99), 'overview-latency-p99', d.latency_ms.p99),
      stat('Cache hit ratio', fmt.pct(d.cache.hit_ratio), 'overview-hit-ratio', d.cache.hit_ratio,
        `${fmt.int(d.cache.hits)} hits, ${fmt.int(d.cache.stale)} stale, ${fmt.int(d.cache.misses)} misses`),
      stat('Upstream calls saved', fmt.int(d.upstream_calls_saved), 'overview-calls-saved', d.upstream_calls_saved,
        `${fmt.int(d.upstream_calls)} calls made`),
      stat('Errors', fmt.int(d.errors), 'overview-errors', d.errors,
        `${fmt.int(d.client_errors)} 4xx, ${fmt.int(d.server_errors)} 5xx`),
      stat('Zero-result searches', fmt.int(d.zero_result_searches), 'overview-zero-results', d.zero_result_searches),
      stat('Clicks', fmt.int(d.clicks), 'overview-clicks', d.clicks),
      stat('Orders', fmt.int(d.orders), 'overview-orders', d.orders));
    for (const c of d.commission) {
      stats.append(stat(`Commission (${c.currency})`, fmt.money(c.amount, c.currency), `overview-commission-${c.currency}`, c.amount));
    }
    root.append(stats);
    if (d.requests === 0) {
      root.append(empty('overview-empty', 'No traffic in this range.',
        'Requests to the API (for example GET /api/products/search?keywords=phone) and to the MCP tools at /mcp show here as they arrive.'));
      return;
    }
    root.append(h('div', { class: 'cols' },
      series(requests, { label: 'Requests', format: fmt.compact }),
      series(errors, { label: 'Errors', format: fmt.compact, kind: 'columns', alt: true })));
    const routes = d.routes.slice(0, 12);
    root.append(h('div', { class: 'cols' },
      card('Operations', AliChart.hbars(routes.map((r) => ({ label: r.route, value: r.requests })), { label: 'Requests per operation', format: fmt.int }),
        table(['Operation', { label: 'Requests', num: true }, { label: 'Errors', num: true }],
          d.routes.map((r) => h('tr', {}, td(r.route, { class: 'wrap' }), num(fmt.int(r.requests), `route-${r.route}-requests`, r.requests), num(fmt.int(r.errors)))), 'overview-routes')),
      card('Top clients', d.clients.length === 0
        ? h('p', { class: 'muted', text: 'No client identified in this range.' })
        : table(['Client', { label: 'Requests', num: true }],
          d.clients.map((c) => h('tr', {}, td(c.client, { class: 'wrap' }), num(fmt.int(c.requests)))), 'overview-clients'))));
  };

  views.searches = async (root) => {
    const from = rangeFrom();
    const q = `from=${encodeURIComponent(from)}`;
    const [kw, zero] = await Promise.all([
      attempt(api(`/api/admin/analytics/keywords?limit=20&${q}`)),
      attempt(api(`/api/admin/analytics/timeseries?metric=zero_result_searches&${q}`)),
    ]);
    root.append(rangeTitle('Searches', from));
    if (!kw.ok) {
      root.append(failure('Search keywords', kw.error));
      return;
    }
    const d = kw.value.data;
    root.append(h('div', { class: 'stats' },
      stat('Searches', fmt.int(d.searches), 'searches-total', d.searches),
      stat('Zero-result searches', fmt.int(d.zero_result_searches), 'searches-zero', d.zero_result_searches),
      stat('Found nothing', fmt.pct(d.searches ? d.zero_result_searches / d.searches : null), 'searches-zero-share', null)));
    if (d.searches === 0) {
      root.append(empty('searches-empty', 'No searches in this range.',
        'Searches through the API (GET or POST /api/products/search) and the MCP search tool are counted here, by keyword.'));
      return;
    }
    root.append(h('div', { class: 'cols' },
      card('Top keywords',
        AliChart.hbars(d.top.slice(0, 10).map((k) => ({ label: k.keyword, value: k.count })), { label: 'Top keywords', format: fmt.int }),
        table(['Keyword', { label: 'Searches', num: true }, { label: 'Found nothing', num: true }, { label: 'Results (avg)', num: true }],
          d.top.map((k, i) => h('tr', {}, h('td', { class: 'wrap', testid: `top-keyword-${i}`, value: k.keyword, text: k.keyword }),
            num(fmt.int(k.count), `top-keyword-${i}-count`, k.count), num(fmt.int(k.zero_results)),
            num(k.results_avg === null || k.results_avg === undefined ? '–' : dec1.format(k.results_avg)))), 'top-keywords')),
      card('Searches that found nothing', d.zero_results.length === 0
        ? h('p', { class: 'muted', testid: 'zero-keywords-empty', text: 'Every search in this range found something.' })
        : table(['Keyword', { label: 'Searches', num: true }],
          d.zero_results.map((k, i) => h('tr', {}, h('td', { class: 'wrap', testid: `zero-keyword-${i}`, value: k.keyword, text: k.keyword }),
            num(fmt.int(k.count), `zero-keyword-${i}-count`, k.count))), 'zero-keywords'))));
    root.append(series(zero, { label: 'Zero-result searches', format: fmt.compact, kind: 'columns', alt: true, wide: true }));
  };

  views.revenue = async (root) => {
    const from = rangeFrom();
    const q = `from=${encodeURIComponent(from)}`;
    const [days, products, categories, orders] = await Promise.all([
      attempt(api(`/api/admin/revenue?group_by=day&${q}`)),
      attempt(api(`/api/admin/revenue?group_by=product&${q}`)),
      attempt(api(`/api/admin/revenue?group_by=category&${q}`)),
      attempt(api(`/api/admin/orders?page_size=10&${q}`)),
    ]);
    root.append(rangeTitle('Revenue', from));
    if (!days.ok) {
      root.append(failure('Revenue', days.error));
      return;
    }
    const totals = days.value.data.totals;
    const orderCount = totals.reduce((n, t) => n + t.orders, 0);
    const stats = h('div', { class: 'stats' }, stat('Orders', fmt.int(orderCount), 'revenue-orders', orderCount));
    for (const t of totals) {
      stats.append(
        stat(`Paid (${t.currency})`, fmt.money(t.paid_amount, t.currency), `revenue-paid-${t.currency}`, t.paid_amount),
        stat(`Estimated commission (${t.currency})`, fmt.money(t.estimated_commission, t.currency), `revenue-commission-${t.currency}`, t.estimated_commission),
        stat(`Finished commission (${t.currency})`, fmt.money(t.finished_commission, t.currency), `revenue-finished-${t.currency}`, t.finished_commission));
    }
    root.append(stats);
    if (orderCount === 0) {
      const mock = state.health && state.health.mock_mode;
      root.append(empty('revenue-empty', 'No orders yet in this range.',
        mock
          ? 'In mock mode the labelled mock order book adds a sample order every hour, and a click on a tracked link (LINK_TRACKING=redirect) becomes a sample order five seconds later; POST /api/admin/orders/sync fetches them now. Set ALIEXPRESS_APP_KEY, ALIEXPRESS_APP_SECRET and ALIEXPRESS_TRACKING_ID to sync real orders.'
          : 'Orders are synced from the AliExpress affiliate order API: set ALIEXPRESS_APP_KEY, ALIEXPRESS_APP_SECRET and ALIEXPRESS_TRACKING_ID, then wait for the scheduled sync (ORDER_SYNC_INTERVAL) or POST /api/admin/orders/sync.'));
      return;
    }
    // The chart shows the currency with the most orders; the tables show every currency.
    const main = totals.slice().sort((a, b) => b.orders - a.orders)[0].currency;
    const perDay = new Map(days.value.data.groups.filter((g) => g.currency === main).map((g) => [g.key, g]));
    const series = daysSince(from).map((day) => {
      const g = perDay.get(day);
      return { day, commission: g ? Number(g.estimated_commission) : 0, orders: g ? g.orders : 0, text: g ? g.estimated_commission : '0' };
    });
    const label = (day) => dayFmt.format(new Date(`${day}T00:00:00Z`));
    root.append(h('div', { class: 'cols' },
      card(`Estimated commission per day (${main})`,
        AliChart.columns(series.map((s) => ({ label: label(s.day), value: s.commission, title: `${s.day}: ${fmt.money(s.text, main)}` })),
          { label: 'Commission per day', format: (v) => fmt.money(String(Math.round(v * 100) / 100), main) })),
      card('Orders per day',
        AliChart.columns(series.map((s) => ({ label: label(s.day), value: s.orders })),
          { label: 'Orders per day', format: fmt.int, alt: true }))));
    const groupTable = (res, title, testid, what) => {
      if (!res.ok) return failure(title, res.error);
      const groups = res.value.data.groups.slice().sort((a, b) => Number(b.estimated_commission) - Number(a.estimated_commission) || b.orders - a.orders).slice(0, 10);
      return card(title, table([what, { label: 'Orders', num: true }, { label: 'Paid', num: true }, { label: 'Commission', num: true }],
        groups.map((g) => h('tr', {}, td(g.key || '(none)', { class: 'wrap' }), num(fmt.int(g.orders)),
          num(fmt.money(g.paid_amount, g.currency)), num(fmt.money(g.estimated_commission, g.currency), `${testid}-${g.key}-${g.currency}`, g.estimated_commission))), testid));
    };
    root.append(h('div', { class: 'cols' },
      groupTable(products, 'Top products', 'top-products', 'Product id'),
      groupTable(categories, 'Top categories', 'top-categories', 'Category id')));
    if (orders.ok) {
      const o = orders.value.data;
      root.append(card(h('span', {}, 'Recent orders ', h('span', { class: 'muted', testid: 'orders-total', value: o.total, text: `${fmt.int(o.total)} in this range` })),
        table(['Ordered', 'Product', 'Status', { label: 'Paid', num: true }, { label: 'Commission', num: true }],
          o.orders.map((x) => h('tr', {},
            td(fmt.time(x.order_time)),
            h('td', { class: 'wrap' }, x.mock ? badge('sample', 'muted') : null, ' ', x.product_title || x.product_id || '–'),
            td(x.status),
            num(fmt.money(x.paid_amount, x.currency)),
            num(fmt.money(x.estimated_commission, x.currency)))), 'recent-orders')));
    } else {
      root.append(failure('Orders', orders.error));
    }
  };

  // The leader: the variant with the highest earnings per click, when any has clicks.
  function leaderOf(variants) {
    let best = null;
    for (const v of variants) {
      if (v.epc === null || v.clicks === 0) continue;
      if (!best || Number(v.epc) > Number(best.epc) || (Number(v.epc) === Number(best.epc) && (v.conversion || 0) > (best.conversion || 0))) best = v;
    }
    return best;
  }

  views.experiments = async (root) => {
    root.append(h('h1', { class: 'view-title', text: 'Experiments' }));
    const list = await attempt(api('/api/admin/experiments'));
    if (!list.ok) {
      root.append(failure('Experiments', list.error));
      return;
    }
    const experiments = list.value.data.experiments.slice().sort((a, b) => (a.status === 'running' ? -1 : 0) - (b.status === 'running' ? -1 : 0) || b.id - a.id);
    root.append(h('div', { class: 'stats' },
      stat('Experiments', fmt.int(experiments.length), 'experiments-count', experiments.length),
      stat('Running', fmt.int(experiments.filter((e) => e.status === 'running').length), 'experiments-running',
        experiments.filter((e) => e.status === 'running').length)));
    if (experiments.length === 0) {
      root.append(empty('experiments-empty', 'No experiments yet.',
        'Start one with POST /api/admin/experiments (a name and two or more variants, each a link type and tracking id; see /docs). Each variant\'s links, clicks, orders and commission show here.'));
      return;
    }
    const reports = await Promise.all(experiments.slice(0, 5).map((e) => attempt(api(`/api/admin/experiments/${e.id}`))));
    reports.forEach((rep, i) => {
      const e = experiments[i];
      if (!rep.ok) {
        root.append(failure(`Experiment ${e.name}`, rep.error));
        return;
      }
      const variants = rep.value.data.variants;
      const leader = leaderOf(variants);
      const pre = `exp-${e.id}`;
      const head = h('span', {}, `${e.name} `, badge(e.status, e.status === 'running' ? 'ok' : 'muted'),
        h('span', { class: 'muted', text: ` #${e.id}, ${e.allocation} allocation, since ${fmt.time(e.created_at)}` }));
      const leaderLine = leader
        ? h('p', {}, 'Current leader: ', h('strong', { testid: `${pre}-leader`, value: leader.name, text: leader.name }),
          ` (${fmt.money(leader.epc, leader.currency || 'USD')} per click)`)
        : h('p', { class: 'muted', testid: `${pre}-leader`, value: '', text: 'No leader yet: no variant has clicks.' });
      const rows = variants.map((v) => h('tr', { class: leader && leader.name === v.name ? 'leader' : null },
        td(v.name), td(v.link_type), num(fmt.pct(v.share)),
        num(fmt.int(v.links), `${pre}-${v.name}-links`, v.links),
        num(fmt.int(v.clicks), `${pre}-${v.name}-clicks`, v.clicks),
        num(fmt.int(v.orders), `${pre}-${v.name}-orders`, v.orders),
        num(v.currency ? fmt.money(v.commission, v.currency) : '–', `${pre}-${v.name}-commission`, v.commission),
        num(v.conversion_interval ? `${fmt.pct(v.conversion)} (${fmt.pct(v.conversion_interval.low)}–${fmt.pct(v.conversion_interval.high)})` : '–'),
        num(v.epc_interval && v.currency ? `${fmt.money(v.epc, v.currency)} (${fmt.money(v.epc_interval.low.toFixed(4), v.currency)}–${fmt.money(v.epc_interval.high.toFixed(4), v.currency)})` : '–'),
        num(v.versus_control && v.versus_control.epc ? `p = ${dec2.format(v.versus_control.epc.p_value)}${v.versus_control.epc.significant ? ' ✓' : ''}` : '–')));
      const withInterval = variants.filter((v) => v.conversion_interval);
      root.append(card(head, leaderLine,
        table(['Variant', 'Link type', { label: 'Share', num: true }, { label: 'Links', num: true }, { label: 'Clicks', num: true },
          { label: 'Orders', num: true }, { label: 'Commission', num: true }, { label: 'Conversion (95%)', num: true },
          { label: 'EPC (95%)', num: true }, { label: 'vs control', num: true }], rows, `${pre}-variants`),
        withInterval.length
          ? h('div', {}, h('p', { class: 'legend', text: 'Conversion (orders per click), 95% intervals' }),
            AliChart.intervals(withInterval.map((v) => ({ label: v.name, low: v.conversion_interval.low, high: v.conversion_interval.high, point: v.conversion })),
              { label: 'Conversion intervals', format: fmt.pct }))
          : h('p', { class: 'legend', text: 'Intervals appear once the variants have clicks.' })));
    });
  };

  views.webhooks = async (root) => {
    root.append(h('h1', { class: 'view-title', text: 'Webhooks' }));
    const list = await attempt(api('/api/admin/webhooks'));
    if (!list.ok) {
      root.append(failure('Webhooks', list.error));
      return;
    }
    const hooks = list.value.data.webhooks;
    const deliveries = await Promise.all(hooks.map((w) => attempt(api(`/api/admin/webhooks/${w.id}/deliveries?limit=20`))));
    // Failing: given up on (failed), or attempted and still waiting for a retry.
    const failedOf = (res) => (res.ok ? res.value.data.deliveries.filter((d) => d.state === 'failed' || (d.state === 'pending' && d.attempts > 0)).length : 0);
    const totalFailed = deliveries.reduce((n, r) => n + failedOf(r), 0);
    root.append(h('div', { class: 'stats' },
      stat('Endpoints', fmt.int(hooks.length), 'webhooks-count', hooks.length),
      stat('Enabled', fmt.int(hooks.filter((w) => w.enabled).length), 'webhooks-enabled', hooks.filter((w) => w.enabled).length),
      stat('Failing', fmt.int(hooks.filter((w) => w.failing_since).length), 'webhooks-failing', hooks.filter((w) => w.failing_since).length),
      stat('Failed or retrying', fmt.int(totalFailed), 'webhooks-failed', totalFailed, 'of the 20 latest deliveries per endpoint')));
    if (hooks.length === 0) {
      root.append(empty('webhooks-empty', 'No webhook endpoints.',
        'Add one with POST /api/admin/webhooks (a URL and the events to send, such as order.created); each delivery is signed per Standard Webhooks and retried with backoff.'));
      return;
    }
    hooks.forEach((w, i) => {
      const res = deliveries[i];
      const state = w.enabled ? (w.failing_since ? badge(`failing since ${fmt.ago(w.failing_since)}`, 'warn') : badge('enabled', 'ok')) : badge('disabled', 'bad');
      const body = [h('p', { class: 'muted' }, `Events: ${w.events.join(', ')}`, w.description ? ` · ${w.description}` : '', w.disabled_reason ? ` · ${w.disabled_reason}` : '')];
      if (!res.ok) {
        body.push(failure('Deliveries', res.error));
      } else if (res.value.data.deliveries.length === 0) {
        body.push(h('p', { class: 'muted', text: 'No deliveries yet. POST /api/admin/webhooks/{id}/test sends a test event.' }));
      } else {
        const list = res.value.data.deliveries;
        body.push(h('p', {}, h('span', { testid: `webhook-${w.id}-deliveries`, value: list.length, text: fmt.int(list.length) }), ' recent deliveries, ',
          h('span', { testid: `webhook-${w.id}-failed`, value: failedOf(res), text: fmt.int(failedOf(res)) }), ' failed or retrying'));
        body.push(table(['Created', 'Event', 'State', { label: 'Attempts', num: true }, 'Last answer'],
          list.map((d) => {
            const last = d.attempt_log[d.attempt_log.length - 1];
            const kind = d.state === 'delivered' ? 'ok' : d.state === 'failed' ? 'bad' : 'warn';
            return h('tr', {}, td(fmt.time(d.created_at)), td(d.event_type), h('td', {}, badge(d.state, kind)),
              num(fmt.int(d.attempts)),
              td(last ? attemptText(last) : '–', { class: 'wrap' }));
          }), `webhook-${w.id}-table`));
      }
      root.append(card(h('span', {}, h('code', { text: w.url }), ' ', state), ...body));
    });
  };

  // One attempt as a person reads it: the answer's status, why it failed, how long it took.
  function attemptText(a) {
    const status = a.status === null ? 'no answer' : `HTTP ${a.status}`;
    const why = a.error && a.error !== status ? `: ${a.error}` : '';
    return `${status}${why} (${fmt.ms(a.latency_ms)})`;
  }

  const ALERT_KIND = { firing: 'bad', pending: 'warn', resolved: 'ok', inactive: 'muted' };

  function alertValue(v, unit) {
    if (v === null || v === undefined) return '–';
    if (unit === 'ratio') return fmt.pct(v);
    if (unit === 'seconds') return fmt.ms(v * 1000);
    if (unit === 'boolean') return v ? 'yes' : 'no';
    return dec2.format(v);
  }

  views.alerts = async (root) => {
    root.append(h('h1', { class: 'view-title', text: 'Alerts' }));
    const res = await attempt(api('/api/admin/alerts'));
    if (!res.ok) {
      root.append(failure('Alerts', res.error));
      return;
    }
    const rules = res.value.data.rules;
    const firing = rules.filter((r) => r.state === 'firing');
    const pending = rules.filter((r) => r.state === 'pending');
    root.append(h('div', { class: 'stats' },
      stat('Firing', fmt.int(firing.length), 'alerts-firing', firing.length),
      stat('Pending', fmt.int(pending.length), 'alerts-pending', pending.length),
      stat('Rules', fmt.int(rules.length), 'alerts-rules', rules.length,
        `evaluated every ${fmt.duration(res.value.metadata.eval_interval_seconds)}`)));
    if (firing.length === 0) {
      root.append(empty('alerts-none-firing', 'Nothing is firing.', 'Each rule below is evaluated on the server; set ALERT_SLACK_WEBHOOK_URL to be told when one fires.'));
    }
    const order = { firing: 0, pending: 1, resolved: 2, inactive: 3 };
    root.append(card('Rules', table(['Rule', 'State', { label: 'Value', num: true }, { label: 'Threshold', num: true }, 'Since'],
      rules.slice().sort((a, b) => order[a.state] - order[b.state]).map((r) => h('tr', {},
        td(r.rule), h('td', { testid: `alert-${r.rule}-state`, value: r.state }, badge(r.state, ALERT_KIND[r.state] || 'muted')),
        num(alertValue(r.value, r.unit)), num(alertValue(r.threshold, r.unit)), td(r.since ? fmt.ago(r.since) : '–'))), 'alert-rules')));
    const recent = rules.flatMap((r) => r.history.map((x) => Object.assign({ rule: r.rule, unit: r.unit }, x)))
      .sort((a, b) => new Date(b.at) - new Date(a.at)).slice(0, 20);
    root.append(card('Recent transitions', recent.length === 0
      ? h('p', { class: 'muted', testid: 'alerts-recent-empty', text: 'No rule has changed state since the server started.' })
      : table(['When', 'Rule', 'State', { label: 'Value', num: true }],
        recent.map((x) => h('tr', {}, td(fmt.time(x.at)), td(x.rule), h('td', {}, badge(x.state, ALERT_KIND[x.state] || 'muted')), num(alertValue(x.value, x.unit)))),
        'alerts-recent')));
  };

  views.health = async (root) => {
    root.append(h('h1', { class: 'view-title', text: 'Health' }));
    const [health, ready, status, cache] = await Promise.all([
      attempt(api('/health')), attempt(readyz()), attempt(api('/api/status')), attempt(api('/api/cache/stats'))]);
    if (!health.ok) {
      root.append(failure('Health', health.error));
      return;
    }
    const hl = health.value;
    const stats = h('div', { class: 'stats' },
      stat('Status', hl.status, 'health-status', hl.status),
      stat('Version', hl.version, 'health-version', hl.version),
      stat('Mode', hl.mock_mode ? 'mock' : 'real', 'health-mode', hl.mock_mode ? 'mock' : 'real'),
      stat('Cache', hl.cache_backend, 'health-cache', hl.cache_backend));
    if (status.ok) {
      const d = status.value.data;
      stats.append(stat('Uptime', fmt.duration(d.uptime_seconds), 'health-uptime', d.uptime_seconds),
        stat('Upstream circuit', d.upstream.circuit_state, 'health-circuit', d.upstream.circuit_state),
        stat('Upstream p99', fmt.ms(d.upstream.latency_ms.p99), 'health-upstream-p99', d.upstream.latency_ms.p99,
          `${fmt.int(d.upstream.calls)} calls, ${fmt.int(d.upstream.failures)} failed`));
    }
    root.append(stats);
    if (ready.ok) {
      const r = ready.value;
      const readyKind = r.status === 'unavailable' || (r.checks || []).some((c) => !c.ok) ? 'bad' : 'ok';
      root.append(card(h('span', {}, 'Readiness ', h('span', { testid: 'readiness', value: r.status }, badge(r.status, readyKind))),
        table(['Check', 'Result', 'Detail'], (r.checks || []).map((c) => h('tr', {}, td(c.name),
          h('td', { testid: `ready-${c.name}`, value: c.ok ? 'ok' : 'failed' }, badge(c.ok ? 'ok' : 'failed', c.ok ? 'ok' : 'bad')),
          td(c.detail || '', { class: 'wrap' }))), 'readiness')));
    }
    if (status.ok) {
      const d = status.value.data;
      const methods = d.upstream.methods || [];
      root.append(card('Upstream (AliExpress) calls', methods.length === 0
        ? h('p', { class: 'muted', text: hl.mock_mode ? 'Mock mode makes no upstream calls.' : 'No upstream calls yet.' })
        : table(['Method', { label: 'Calls', num: true }, { label: 'Failures', num: true }, { label: 'p50', num: true }, { label: 'p99', num: true }],
          methods.map((m) => h('tr', {}, td(m.method), num(fmt.int(m.calls)), num(fmt.int(m.failures)), num(fmt.ms(m.latency_ms.p50)), num(fmt.ms(m.latency_ms.p99)))),
          'upstream-methods')));
      const routes = d.requests.routes.filter((r) => r.requests > 0).sort((a, b) => b.requests - a.requests);
      root.append(card(h('span', {}, 'Requests per route ', h('span', { class: 'muted', text: `since start-up: ${fmt.int(d.requests.total)}` })),
        table(['Route', { label: 'Requests', num: true }, { label: 'p50', num: true }, { label: 'p99', num: true },
          { label: '4xx', num: true }, { label: '5xx', num: true }],
        routes.map((r) => h('tr', {}, td(`${r.method} ${r.route}`, { class: 'wrap' }),
          num(fmt.int(r.requests)), num(fmt.ms(r.latency_ms.p50)), num(fmt.ms(r.latency_ms.p99)),
          num(fmt.int(r.client_errors)), num(fmt.int(r.server_errors)))), 'status-routes')));
      const rl = d.rate_limits;
      root.append(card('Rate limits', h('p', {}, rl.enabled
        ? `${fmt.int(rl.allowed)} allowed, ${fmt.int(rl.rejected)} rejected${rl.shared ? ' (shared through Redis)' : ''}${rl.degraded ? ', degraded' : ''}.`
        : 'Rate limiting is off.')));
    }
    if (cache.ok) {
      const c = cache.value.data;
      root.append(card(h('span', {}, 'Cache ', h('span', { class: 'muted', text: `since start-up: ${fmt.pct(c.cache_stats.total_requests ? c.cache_stats.hits / c.cache_stats.total_requests : null)} hits` })),
        table(['Tier', { label: 'Entries', num: true }, { label: 'Hits', num: true }, { label: 'Misses', num: true },
          { label: 'Evictions', num: true }, { label: 'Errors', num: true }],
        (c.tiers || []).map((x) => h('tr', {}, td(x.name), num(fmt.int(x.entries)), num(fmt.int(x.hits)),
          num(fmt.int(x.misses)), num(fmt.int(x.evictions)), num(fmt.int(x.errors)))), 'cache-tiers')));
    }
  };

  // `/readyz` answers 503 with its document when a check fails: that is a result, not an error.
  async function readyz() {
    const resp = await fetch('/readyz', { cache: 'no-store', credentials: 'omit' });
    return resp.json();
  }

  // ---- shell ------------------------------------------------------------------------------
  function currentView() {
    const v = location.hash.replace(/^#/, '');
    return VIEWS.includes(v) ? v : 'overview';
  }

  function showSignIn(message) {
    $('#signin').hidden = false;
    $('#view').hidden = true;
    $('#nav').hidden = true;
    $('#range-box').hidden = true;
    $('#refresh').hidden = true;
    $('#signout').hidden = true;
    $('#foot').hidden = true;
    const err = $('#signin-error');
    err.textContent = message || '';
    err.hidden = !message;
    $('#view').replaceChildren();
    delete $('#view').dataset.ready;
    $('#key').value = '';
    $('#key').focus();
  }

  async function loadHealth() {
    // Public: whether to show the mock banner does not need the key.
    try {
      const resp = await fetch('/health', { cache: 'no-store', credentials: 'omit' });
      state.health = await resp.json();
    } catch (_) {
      state.health = null;
    }
    $('#mock-banner').hidden = !(state.health && state.health.mock_mode);
  }

  async function render() {
    if (!sessionStorage.getItem(KEY)) {
      showSignIn('');
      return;
    }
    const name = currentView();
    const seq = ++state.seq;
    $('#signin').hidden = true;
    $('#nav').hidden = false;
    $('#range-box').hidden = false;
    $('#refresh').hidden = false;
    $('#signout').hidden = false;
    for (const a of document.querySelectorAll('#nav a')) {
      if (a.dataset.view === name) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
    document.title = `${name[0].toUpperCase()}${name.slice(1)} · AliStach dashboard`;
    const view = $('#view');
    view.hidden = false;
    view.setAttribute('aria-busy', 'true');
    delete view.dataset.ready;
    const root = h('div', { class: `view view-${name}`, testid: `view-${name}` });
    try {
      await views[name](root);
    } catch (e) {
      if (e instanceof SignedOut) {
        if (seq === state.seq) showSignIn(e.message ? `Signed out: ${e.message}.` : '');
        return;
      }
      root.append(failure('This view', e));
    }
    if (seq !== state.seq) return; // a newer render took over
    view.replaceChildren(root);
    view.removeAttribute('aria-busy');
    view.dataset.ready = name;
    $('#foot').hidden = false;
    $('#updated').textContent = `Updated ${dateTimeFmt.format(new Date())}`;
  }

  async function signIn(event) {
    event.preventDefault();
    const key = $('#key').value.trim();
    if (!key) return;
    sessionStorage.setItem(KEY, key);
    $('#key').value = '';
    // Check the key once on a cheap admin endpoint, so a wrong one is told here.
    try {
      await api('/api/admin/alerts');
    } catch (e) {
      sessionStorage.removeItem(KEY);
      showSignIn(e instanceof SignedOut ? `The key was refused: ${e.message}.` : `Could not sign in: ${e.message}.`);
      return;
    }
    if (!VIEWS.includes(location.hash.replace(/^#/, ''))) history.replaceState(null, '', '#overview');
    render();
  }

  function signOut() {
    sessionStorage.removeItem(KEY);
    showSignIn('Signed out.');
  }

  const THEMES = ['auto', 'dark', 'light'];
  function applyTheme(theme) {
    if (theme === 'auto') document.documentElement.removeAttribute('data-theme');
    else document.documentElement.dataset.theme = theme;
    const btn = $('#theme');
    btn.textContent = theme === 'auto' ? 'Auto' : theme === 'dark' ? 'Dark' : 'Light';
    btn.setAttribute('aria-label', `Colour scheme: ${btn.textContent}`);
  }

  function start() {
    let theme = localStorage.getItem(THEME) || 'auto';
    if (!THEMES.includes(theme)) theme = 'auto';
    applyTheme(theme);
    $('#theme').addEventListener('click', () => {
      theme = THEMES[(THEMES.indexOf(theme) + 1) % THEMES.length];
      localStorage.setItem(THEME, theme);
      applyTheme(theme);
    });
    $('#range').value = state.range;
    $('#range').addEventListener('change', () => {
      state.range = $('#range').value;
      localStorage.setItem(RANGE, state.range);
      render();
    });
    $('#refresh').addEventListener('click', render);
    $('#signout').addEventListener('click', signOut);
    $('#signin-form').addEventListener('submit', signIn);
    window.addEventListener('hashchange', () => {
      if (location.hash.startsWith('#key=')) {
        // Signing in by fragment in an open tab: same rule, cleared at once.
        let key = location.hash.slice('#key='.length);
        try { key = decodeURIComponent(key); } catch (_) { /* raw */ }
        history.replaceState(null, '', `${location.pathname}${location.search}#overview`);
        if (key) sessionStorage.setItem(KEY, key);
      }
      render();
    });
    loadHealth().then(render);
  }

  start();
})();
