// cyclepix dashboard: follows /events (server-sent events) and draws the
// loss curves as SVG. No library: the page must work with no network but
// the dashboard's own server.
'use strict';
(() => {
  const $ = (id) => document.getElementById(id);
  const SVGNS = 'http://www.w3.org/2000/svg';
  const COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];

  // What the server told us.
  const st = {
    name: '', mode: '', status: '', progress: {}, maxPoints: 4000,
    // Curve groups: the losses, and the held-out metrics of --eval_freq.
    // Each curve is {x: [], y: [], stride, better}.
    loss: { id: 'loss', box: 'charts', order: [], curves: new Map(), xlabel: 'epochs' },
    metric: { id: 'metric', box: 'metric-charts', order: [], curves: new Map(), xlabel: 'epoch' },
    visuals: [], visualsEpoch: 0, visualsIters: 0, gallery: [], options: '',
    best: null, // {epoch, metric, value}: what best_net_*.pth hold
  };
  // What the user chose (kept across reloads).
  const ui = {
    mode: localStorage.getItem('cyclepix.mode') || 'both',
    smooth: parseFloat(localStorage.getItem('cyclepix.smooth') || '0.8'),
    logy: localStorage.getItem('cyclepix.logy') === '1',
    show: 'current',
  };
  let conn = 'connecting';

  // ---- numbers -----------------------------------------------------------

  function fmt(v) {
    if (v === null || v === undefined || !isFinite(v)) return '—';
    const a = Math.abs(v);
    if (a !== 0 && (a >= 1e4 || a < 1e-3)) return v.toExponential(2);
    return String(+v.toPrecision(4));
  }
  // fmtTick writes a tick value with as many decimals as the ticks' step
  // needs, so that close ticks (a flat curve) stay distinct.
  function fmtTick(v, step) {
    if (!isFinite(v)) return '—';
    const d = step > 0 ? Math.max(0, Math.ceil(-Math.log10(step) - 1e-9)) : 3;
    if (Math.abs(v) >= 1e5 || d > 6) {
      const sig = step > 0 && v !== 0 ? Math.ceil(Math.log10(Math.abs(v) / step)) : 2;
      return v.toExponential(Math.max(1, Math.min(8, sig)));
    }
    return v.toFixed(d);
  }
  function fmtDuration(s) {
    if (!(s > 0) || !isFinite(s)) return '—';
    if (s < 10) return `${+s.toFixed(1)}s`;
    s = Math.round(s);
    const d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60), sec = s % 60;
    const p2 = (n) => String(n).padStart(2, '0');
    if (d > 0) return `${d}d ${h}h`;
    if (h > 0) return `${h}h ${p2(m)}m`;
    if (m > 0) return `${m}m ${p2(sec)}s`;
    return `${sec}s`;
  }
  function niceTicks(lo, hi, n) {
    const span = hi - lo;
    if (!(span > 0)) return [lo];
    const raw = span / n, mag = Math.pow(10, Math.floor(Math.log10(raw))), r = raw / mag;
    const step = (r >= 7.5 ? 10 : r >= 3.5 ? 5 : r >= 1.5 ? 2 : 1) * mag;
    const out = [];
    for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(+v.toPrecision(12));
    return out;
  }
  function logTicks(lo, hi) { // lo, hi are log10 values
    for (const ms of (hi - lo > 3 ? [[1]] : [[1, 2, 5], [1, 2, 3, 4, 5, 6, 7, 8, 9]])) {
      const out = [];
      for (let e = Math.floor(lo); e <= Math.ceil(hi); e++) {
        for (const m of ms) {
          const v = Math.log10(m) + e;
          if (v >= lo - 1e-9 && v <= hi + 1e-9) out.push(v);
        }
      }
      if (out.length >= 3 || ms.length === 9) return out.length ? out : niceTicks(lo, hi, 3);
    }
  }
  // TensorBoard's smoothing: an exponential moving average, debiased so
  // that the first points are not pulled towards zero.
  function smooth(ys, w) {
    const out = new Array(ys.length);
    let last = 0, n = 0;
    for (let i = 0; i < ys.length; i++) {
      const y = ys[i];
      if (y === null || !isFinite(y)) { out[i] = null; continue; }
      last = last * w + (1 - w) * y;
      n++;
      out[i] = w === 0 ? y : last / (1 - Math.pow(w, n));
    }
    return out;
  }

  // ---- state updates -----------------------------------------------------

  function applySnapshot(s) {
    st.name = s.name; st.mode = s.mode; st.status = s.status; st.progress = s.progress || {};
    st.maxPoints = s.maxPoints || 4000;
    loadGroup(st.loss, s.curves);
    loadGroup(st.metric, s.metrics);
    st.best = s.best || null;
    st.visuals = s.visuals || []; st.visualsEpoch = s.visualsEpoch; st.visualsIters = s.visualsIters;
    st.gallery = s.gallery || [];
    st.options = s.options || '';
    render({ all: true });
  }

  function loadGroup(g, curves) {
    g.order = []; g.curves = new Map();
    for (const c of curves || []) {
      g.order.push(c.name);
      g.curves.set(c.name, { x: c.x.slice(), y: c.y.slice(), stride: c.stride || 1, better: c.better });
    }
  }

  // append adds one point to each named curve of a group; like the
  // server, a curve that reaches its limit averages neighbouring pairs so
  // that memory stays bounded.
  function append(g, x, values, better) {
    for (const { name, value: v } of values) {
      let c = g.curves.get(name);
      if (!c) { c = { x: [], y: [], stride: 1, better: (better || {})[name] }; g.curves.set(name, c); g.order.push(name); }
      c.x.push(x); c.y.push(v);
      if (c.x.length >= st.maxPoints) compact(c);
    }
  }
  function addPoint(ev) {
    append(st.loss, ev.x, ev.losses);
    st.progress = ev.progress || st.progress;
    render({ charts: true, stats: true });
  }
  function addMetrics(ev) {
    append(st.metric, ev.epoch, ev.values, ev.better);
    render({ charts: true });
  }
  function compact(c) {
    const n = Math.floor(c.x.length / 2), x = new Array(n), y = new Array(n);
    for (let i = 0; i < n; i++) {
      x[i] = (c.x[2 * i] + c.x[2 * i + 1]) / 2;
      const a = c.y[2 * i], b = c.y[2 * i + 1];
      y[i] = a === null || b === null ? null : (a + b) / 2;
    }
    c.x = x; c.y = y; c.stride *= 2;
  }

  // ---- rendering (batched per animation frame) ----------------------------

  const pending = {};
  let frame = 0;
  function render(what) {
    Object.assign(pending, what);
    if (!frame) frame = requestAnimationFrame(flush);
  }
  function flush() {
    frame = 0;
    const p = Object.assign({}, pending);
    for (const k of Object.keys(pending)) delete pending[k];
    if (p.all || p.header) renderHeader();
    if (p.all || p.stats) renderStats();
    if (p.all || p.charts) renderCharts();
    if (p.all || p.visuals) renderVisuals();
    if (p.all || p.options) renderOptions();
  }

  function renderHeader() {
    $('name').textContent = st.name || '';
    document.title = (st.name ? st.name + ' · ' : '') + 'cyclepix dashboard';
    const pill = $('status');
    let label = st.status, cls = st.status;
    if (conn === 'connecting') { label = 'connecting'; cls = 'connecting'; }
    else if (conn === 'reconnecting') { label = 'reconnecting…'; cls = 'reconnecting'; }
    else if (st.status === 'closed' || conn === 'closed') {
      // The page keeps what it shows after the server has gone.
      cls = 'closed';
      label = st.lastStatus === 'finished' ? 'finished · server closed' : 'server closed';
    } else if (st.status === 'files') label = 'from files';
    pill.textContent = label;
    pill.className = 'pill ' + cls;
    pill.dataset.status = st.status;
  }

  function renderStats() {
    const p = st.progress || {};
    const epochs = p.epochs || 0, ipe = p.itersPerEpoch || 0;
    $('s-epoch').textContent = p.epoch ? (epochs ? `${p.epoch} / ${epochs}` : String(p.epoch)) : '—';
    const done = p.epoch ? (p.epoch - 1 + (ipe ? Math.min(p.epochIter / ipe, 1) : 0)) : 0;
    $('s-epoch-bar').style.width = epochs ? `${Math.min(100, 100 * done / epochs)}%` : '0';
    $('s-iter').textContent = p.epoch ? (ipe ? `${p.epochIter} / ${ipe}` : String(p.epochIter)) : '—';
    $('s-iter-bar').style.width = ipe ? `${Math.min(100, 100 * p.epochIter / ipe)}%` : '0';
    $('s-total').textContent = p.totalIters ? String(p.totalIters) : '—';
    $('s-lr').textContent = typeof p.lr === 'number' ? (p.lr === 0 ? '0' : p.lr.toExponential(3)) : '—';
    $('s-ips').textContent = p.imagesPerSec ? fmt(p.imagesPerSec) : '—';
    const finished = st.status === 'finished' || (st.status === 'closed' && st.lastStatus === 'finished');
    $('s-eta').textContent = finished ? 'done' : fmtDuration(p.etaSeconds);
    $('s-epochtime').textContent = fmtDuration(p.epochSeconds);
    renderUpdated();
  }
  function renderUpdated() {
    const u = (st.progress || {}).updated;
    if (!u) { $('updated').textContent = ''; return; }
    const ago = Math.max(0, (Date.now() - u) / 1000);
    $('updated').textContent = 'last report ' + (ago < 2 ? 'just now' : fmtDuration(ago) + ' ago');
  }
  setInterval(renderUpdated, 1000);

  // ---- charts ------------------------------------------------------------

  const M = { l: 46, r: 8, t: 6, b: 20 }, H = 190;
  const charts = new Map(); // group id + ':' + name -> {box, svg, readout, color, hover}

  function el(tag, attrs, parent) {
    const e = document.createElementNS(SVGNS, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (parent) parent.appendChild(e);
    return e;
  }

  function chartFor(g, name, i) {
    const key = g.id + ':' + name;
    let c = charts.get(key);
    if (c) return c;
    const box = document.createElement('div');
    box.className = 'chart';
    box.dataset.loss = name;
    const head = document.createElement('div');
    head.className = 'chart-head';
    const n = document.createElement('span');
    n.className = 'name'; n.textContent = name;
    const better = g.curves.get(name).better;
    if (better) n.textContent += better === 'lower' ? ' ↓' : ' ↑';
    if (better) n.title = better + ' is better';
    const readout = document.createElement('span');
    readout.className = 'readout';
    head.append(n, readout);
    const svg = el('svg', { role: 'img', 'aria-label': 'loss ' + name });
    box.append(head, svg);
    $(g.box).appendChild(box);
    c = { box, svg, readout, color: COLORS[i % COLORS.length], hover: null, group: g.id };
    svg.addEventListener('mousemove', (e) => { c.hover = e.offsetX; drawChart(g, name, c); });
    svg.addEventListener('mouseleave', () => { c.hover = null; drawChart(g, name, c); });
    charts.set(key, c);
    return c;
  }

  function renderCharts() {
    $('no-curves').hidden = st.loss.order.length > 0;
    $('metrics-panel').hidden = st.metric.order.length === 0;
    for (const g of [st.loss, st.metric]) {
      g.order.forEach((name, i) => drawChart(g, name, chartFor(g, name, i)));
    }
    for (const [key, c] of charts) {
      const g = st[c.group], name = key.slice(c.group.length + 1);
      if (!g.curves.has(name)) { c.box.remove(); charts.delete(key); }
    }
    const strides = [...st.loss.curves.values()].map((c) => c.stride);
    const s = strides.length ? Math.max(...strides) : 1;
    $('curves-note').textContent = s > 1 ? `Long run: each point averages up to ${s} reports.` : '';
  }

  function drawChart(g, name, c) {
    const data = g.curves.get(name);
    if (!data) return;
    // Metrics come once per evaluated epoch: raw points, no smoothing.
    const metric = g === st.metric;
    const W = Math.max(200, c.svg.clientWidth || 340);
    const svg = c.svg;
    svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
    while (svg.firstChild) svg.removeChild(svg.firstChild);

    const showRaw = metric || ui.mode !== 'smoothed', showSmooth = !metric && ui.mode !== 'raw';
    const tf = ui.logy ? (v) => (v > 0 ? Math.log10(v) : null) : (v) => v;
    const xs = data.x, raw = data.y.map((v) => (v === null ? null : tf(v)));
    const smy = smooth(data.y, ui.smooth);
    const sm = smy.map((v) => (v === null ? null : tf(v)));

    let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
    for (let i = 0; i < xs.length; i++) {
      x0 = Math.min(x0, xs[i]); x1 = Math.max(x1, xs[i]);
      for (const v of [showRaw ? raw[i] : null, showSmooth ? sm[i] : null]) {
        if (v !== null && isFinite(v)) { y0 = Math.min(y0, v); y1 = Math.max(y1, v); }
      }
    }
    if (!isFinite(x0)) { x0 = 0; x1 = 1; }
    if (x1 - x0 < 1e-9) { x1 = x0 + 1; }
    if (!isFinite(y0)) { y0 = 0; y1 = 1; }
    if (y1 - y0 < 1e-12) { y0 -= 0.5; y1 += 0.5; }
    const pad = (y1 - y0) * 0.05; y0 -= pad; y1 += pad;
    const pw = W - M.l - M.r, ph = H - M.t - M.b;
    const sx = (x) => M.l + (x - x0) / (x1 - x0) * pw;
    const sy = (y) => M.t + (1 - (y - y0) / (y1 - y0)) * ph;

    const yt = ui.logy ? logTicks(y0, y1) : niceTicks(y0, y1, 4);
    const ystep = yt.length > 1 ? yt[1] - yt[0] : 0;
    for (const v of yt) {
      el('line', { class: 'grid', x1: M.l, x2: W - M.r, y1: sy(v), y2: sy(v) }, svg);
      const t = el('text', { x: M.l - 4, y: sy(v) + 3, 'text-anchor': 'end' }, svg);
      t.textContent = ui.logy ? fmt(Math.pow(10, v)) : fmtTick(v, ystep);
    }
    const xt = niceTicks(x0, x1, Math.max(2, Math.floor(pw / 70)));
    for (const v of xt) {
      el('line', { class: 'grid', x1: sx(v), x2: sx(v), y1: M.t, y2: M.t + ph }, svg);
      const t = el('text', { x: sx(v), y: H - 6, 'text-anchor': 'middle' }, svg);
      t.textContent = fmtTick(v, xt.length > 1 ? xt[1] - xt[0] : 1);
    }
    el('rect', { class: 'axis', x: M.l, y: M.t, width: pw, height: ph, fill: 'none' }, svg);
    const xl = el('text', { x: W - M.r, y: M.t + ph - 4, 'text-anchor': 'end' }, svg);
    xl.textContent = g.xlabel;

    const line = (ys) => {
      let d = '', pen = false, n = 0;
      for (let i = 0; i < xs.length; i++) {
        const v = ys[i];
        if (v === null || !isFinite(v)) { pen = false; continue; }
        d += (pen ? 'L' : 'M') + sx(xs[i]).toFixed(1) + ' ' + sy(v).toFixed(1);
        pen = true; n++;
      }
      return [d, n];
    };
    if (showRaw) {
      const [d, n] = line(raw);
      el('path', { class: 'raw', d, stroke: c.color, 'stroke-width': showSmooth ? 1 : 1.5,
        'stroke-opacity': showSmooth ? 0.3 : 1, 'data-points': n }, svg);
    }
    if (metric) {
      for (let i = 0; i < xs.length; i++) {
        if (raw[i] !== null && isFinite(raw[i])) el('circle', { class: 'dot', cx: sx(xs[i]), cy: sy(raw[i]), r: 2.5, fill: c.color }, svg);
      }
    }
    // The best epoch: a ring on its metric's chart.
    const best = metric && st.best && st.best.metric === name ? st.best : null;
    if (best) {
      const v = tf(best.value);
      if (v !== null && isFinite(v) && best.epoch >= x0 && best.epoch <= x1 && v >= y0 && v <= y1) {
        const ring = el('circle', { class: 'best', cx: sx(best.epoch), cy: sy(v), r: 5.5, fill: 'none', stroke: c.color,
          'stroke-width': 2, 'data-epoch': best.epoch }, svg);
        el('title', {}, ring).textContent = `best so far: epoch ${best.epoch} (best_net_*.pth)`;
      }
    }
    if (showSmooth) {
      const [d, n] = line(sm);
      el('path', { class: 'smoothed', d, stroke: c.color, 'stroke-width': 1.8, 'data-points': n }, svg);
    }

    // Readout: the point under the mouse, else the newest.
    let i = xs.length - 1;
    if (c.hover !== null && xs.length) {
      const x = x0 + (c.hover * W / (svg.clientWidth || W) - M.l) / pw * (x1 - x0);
      let lo = 0, hi = xs.length - 1;
      while (lo < hi) { const mid = (lo + hi) >> 1; if (xs[mid] < x) lo = mid + 1; else hi = mid; }
      if (lo > 0 && Math.abs(xs[lo - 1] - x) < Math.abs(xs[lo] - x)) lo--;
      i = lo;
      el('line', { class: 'cursor', x1: sx(xs[i]), x2: sx(xs[i]), y1: M.t, y2: M.t + ph }, svg);
      const v = showSmooth ? sm[i] : raw[i];
      if (v !== null && isFinite(v)) el('circle', { cx: sx(xs[i]), cy: sy(v), r: 3, fill: c.color }, svg);
    }
    if (i >= 0) {
      c.readout.textContent = `epoch ${fmt(xs[i])}: ${fmt(data.y[i])}` + (showSmooth && ui.smooth > 0 ? ` (smoothed ${fmt(smy[i])})` : '') +
        (best ? ` · best: epoch ${best.epoch}` : '');
    } else {
      c.readout.textContent = '';
    }
  }

  // ---- visuals -----------------------------------------------------------

  function winsize() {
    const m = /display_winsize:\s*(\d+)/.exec(st.options || '');
    const w = m ? parseInt(m[1], 10) : 256;
    return Math.max(96, Math.min(w, 512));
  }

  function renderVisuals() {
    // the gallery selector
    const sel = $('gallery-select');
    const want = ['current', ...st.gallery.map((g) => String(g.epoch))];
    const have = [...sel.options].map((o) => o.value);
    if (want.join() !== have.join()) {
      sel.textContent = '';
      for (const v of want) {
        const o = document.createElement('option');
        o.value = v; o.textContent = v === 'current' ? 'current' : 'epoch ' + v;
        sel.appendChild(o);
      }
      if (!want.includes(ui.show)) ui.show = 'current';
      sel.value = ui.show;
    }
    let list = st.visuals, when = '';
    if (ui.show === 'current') {
      if (st.visualsEpoch) when = `epoch ${st.visualsEpoch}` + (st.visualsIters ? `, iteration ${st.visualsIters}` : '');
    } else {
      const g = st.gallery.find((g) => String(g.epoch) === ui.show);
      list = g ? g.visuals : [];
      when = `saved at epoch ${ui.show}`;
    }
    $('visuals-when').textContent = when;
    $('no-visuals').hidden = list.length > 0;
    document.documentElement.style.setProperty('--winsize', winsize() + 'px');

    const box = $('visuals');
    const figs = new Map([...box.children].map((f) => [f.dataset.name, f]));
    const keep = new Set();
    for (const v of list) {
      keep.add(v.name);
      let f = figs.get(v.name);
      if (!f) {
        f = document.createElement('figure');
        f.dataset.name = v.name;
        const img = document.createElement('img');
        img.alt = v.name;
        const cap = document.createElement('figcaption');
        f.append(img, cap);
        box.appendChild(f);
      }
      // A preview of data on their own scale says which channels it shows.
      f.querySelector('figcaption').textContent = v.note ? v.name + ' (' + v.note + ')' : v.name;
      box.appendChild(f); // keep the server's order
      swapImage(f.querySelector('img'), v.url);
    }
    for (const [name, f] of figs) if (!keep.has(name)) f.remove();
  }

  // swapImage loads url off-screen and shows it once decoded, so that the
  // old picture stays up while the new one loads, and when it fails (the
  // server closed right after training).
  function swapImage(img, url) {
    if (img.dataset.want === url) return;
    img.dataset.want = url;
    const pre = new Image();
    pre.onload = () => {
      if (img.dataset.want !== url) return;
      img.src = url;
      img.classList.toggle('pixelated', pre.naturalWidth * 1.5 < winsize());
    };
    pre.src = url;
  }

  function renderOptions() {
    $('options').textContent = st.options || '(not known yet)';
    const o = {};
    for (const line of (st.options || '').split('\n')) {
      const m = /^\s*([\w]+):\s*(\S*)/.exec(line);
      if (m) o[m[1]] = m[2];
    }
    const keys = ['model', 'netG', 'dataset_mode', 'batch_size', 'crop_size', 'precision', 'gpu_ids'];
    $('keyopts').textContent = keys.filter((k) => o[k] !== undefined && o[k] !== '').map((k) => `${k} ${o[k]}`).join(' · ');
  }

  // ---- controls ----------------------------------------------------------

  function initControls() {
    const seg = $('curve-mode');
    const mark = () => { for (const b of seg.querySelectorAll('button')) b.classList.toggle('on', b.dataset.mode === ui.mode); };
    seg.addEventListener('click', (e) => {
      const b = e.target.closest('button');
      if (!b) return;
      ui.mode = b.dataset.mode;
      localStorage.setItem('cyclepix.mode', ui.mode);
      mark(); render({ charts: true });
    });
    mark();
    const sm = $('smooth');
    sm.value = ui.smooth; $('smooth-v').textContent = ui.smooth.toFixed(2);
    sm.addEventListener('input', () => {
      ui.smooth = parseFloat(sm.value);
      $('smooth-v').textContent = ui.smooth.toFixed(2);
      localStorage.setItem('cyclepix.smooth', String(ui.smooth));
      render({ charts: true });
    });
    const lg = $('logy');
    lg.checked = ui.logy;
    lg.addEventListener('change', () => {
      ui.logy = lg.checked;
      localStorage.setItem('cyclepix.logy', ui.logy ? '1' : '0');
      render({ charts: true });
    });
    $('gallery-select').addEventListener('change', (e) => { ui.show = e.target.value; render({ visuals: true }); });
    window.addEventListener('resize', () => render({ charts: true }));
  }

  // ---- the stream --------------------------------------------------------

  function connect() {
    const es = new EventSource('/events');
    const on = (kind, f) => es.addEventListener(kind, (e) => f(JSON.parse(e.data)));
    es.onopen = () => { conn = 'open'; render({ header: true }); };
    es.onerror = () => {
      conn = es.readyState === EventSource.CLOSED ? 'closed' : 'reconnecting';
      render({ header: true });
    };
    on('snapshot', applySnapshot);
    on('point', addPoint);
    on('metrics', addMetrics);
    on('best', (b) => { st.best = b; render({ charts: true }); });
    on('visuals', (v) => {
      st.visuals = v.visuals || []; st.visualsEpoch = v.epoch; st.visualsIters = v.iters;
      render({ visuals: true });
    });
    on('gallery', (g) => { st.gallery = g || []; render({ visuals: true }); });
    on('progress', (p) => { st.progress = p; render({ stats: true }); });
    on('options', (o) => { st.options = o; render({ options: true, visuals: true }); });
    on('status', (s) => {
      if (s !== st.status) st.lastStatus = st.status;
      st.status = s;
      if (s === 'closed') { es.close(); conn = 'closed'; }
      render({ header: true, stats: true });
    });
  }

  initControls();
  connect();
})();
