// Draws the behaviour embedded in <script id="behaviour"> as an SVG sequence chart.
// Self-contained: no network, no library. When done it records what it drew on
// <div id="viewer-status"> (data-ok, data-arrows, data-lanes, data-steps, data-faults);
// an exception sets data-ok="0" and data-error.
(function () {
  'use strict';
  var status = document.getElementById('viewer-status');
  function fail(msg) {
    status.setAttribute('data-ok', '0');
    status.setAttribute('data-error', String(msg));
  }
  window.addEventListener('error', function (e) { fail(e.message || 'script error'); });

  var SVGNS = ['http:', '', 'www.w3.org', '2000', 'svg'].join('/');
  var ROW = 20, HEAD = 52, TIMEW = 270, BAND = 14;
  var STATE_COLORS = {
    'STARTUP': '#a9c5e8',
    'NORMAL': '#7cc68d',
    'COMMUNICATIONS-INTERRUPTED': '#ffd166',
    'PARTNER-DOWN': '#f08080',
    'POTENTIAL-CONFLICT': '#f7a072',
    'RESOLUTION-INTERRUPTED': '#e5989b',
    'CONFLICT-DONE': '#8fd3c9',
    'RECOVER': '#b39ddb',
    'RECOVER-WAIT': '#9575cd',
    'RECOVER-DONE': '#d1c4e9'
  };
  var SHORT = {
    'COMMUNICATIONS-INTERRUPTED': 'COMM-INT',
    'POTENTIAL-CONFLICT': 'POT-CONFLICT',
    'RESOLUTION-INTERRUPTED': 'RES-INT'
  };
  var FAULTS = ['Crash', 'StorageLoss', 'Partition', 'Break', 'ClockStep', 'LostReply'];
  var ARROW_NAMES = { Partner: 'failover message', Fin: 'end of stream (FIN)', Request: 'client request', Reply: 'server reply' };
  var ARROW_COLORS = { Partner: '#1f4e99', Fin: '#777', Request: '#237a3b', Reply: '#9c5200' };

  function el(name, attrs, parent) {
    var e = document.createElementNS(SVGNS, name);
    for (var k in attrs) { if (Object.prototype.hasOwnProperty.call(attrs, k)) { e.setAttribute(k, attrs[k]); } }
    if (parent) { parent.appendChild(e); }
    return e;
  }
  function hel(name, text, parent, cls) {
    var e = document.createElement(name);
    if (text !== undefined && text !== null) { e.textContent = text; }
    if (cls) { e.className = cls; }
    if (parent) { parent.appendChild(e); }
    return e;
  }
  function text(parent, x, y, s, cls, anchor) {
    var t = el('text', { x: x, y: y }, parent);
    if (cls) { t.setAttribute('class', cls); }
    if (anchor) { t.setAttribute('text-anchor', anchor); }
    t.textContent = s;
    return t;
  }
  function clip(s, n) { return s.length > n ? s.slice(0, Math.max(1, n - 1)) + '\u2026' : s; }
  function stateColor(s) { return STATE_COLORS[s] || '#cfd8dc'; }
  function fieldsText(a) {
    return a.fields.map(function (f) { return f[0] ? f[0] + '=' + f[1] : f[1]; }).join(' ');
  }

  function render() {
    var B = JSON.parse(document.getElementById('behaviour').textContent);
    var lanes = B.lanes, steps = B.steps, arrows = B.arrows;
    var laneIndex = {};
    lanes.forEach(function (l, i) { laneIndex[l.id] = i; });
    var width = Math.max(900, (window.innerWidth || 1400) - 20);
    var laneW = Math.max(170, Math.min(lanes.length <= 3 ? 520 : 380, (width - TIMEW - 30) / Math.max(1, lanes.length)));
    function laneX(id) { return TIMEW + laneW * (laneIndex[id] + 0.5); }
    var serverLanes = lanes.filter(function (l) { return l.kind !== 'Client'; });

    // Slots: each step gets one row per mark and per arrow end, in causal order
    // (marks, then receptions of earlier messages, then this step's exchanges and sends).
    var used = steps.map(function () { return 0; });
    function alloc(k) { used[k] += 1; return used[k] - 1; }
    var markSlot = steps.map(function (s, k) { return s.marks.map(function () { return alloc(k); }); });
    var recvSlot = arrows.map(function () { return null; });
    var sendSlot = arrows.map(function () { return null; });
    var order = arrows.map(function (a, i) { return i; });
    order.forEach(function (i) {
      var a = arrows[i];
      if (a.received !== null && a.received !== a.sent) { recvSlot[i] = { k: a.received, s: null }; }
      if (a.received === null && a.lost_at !== null && a.lost_at !== undefined && a.lost_at !== a.sent) { recvSlot[i] = { k: a.lost_at, s: null }; }
    });
    // Receptions at a step come before that step's own sends.
    steps.forEach(function (s, k) {
      order.forEach(function (i) { if (recvSlot[i] && recvSlot[i].k === k) { recvSlot[i].s = alloc(k); } });
      order.forEach(function (i) { if (arrows[i].sent === k) { sendSlot[i] = alloc(k); } });
    });
    var top = [], y = HEAD;
    steps.forEach(function (s, k) { top.push(y); y += Math.max(1, used[k]) * ROW + 8; });
    var height = y + 10;
    function slotY(k, s) { return top[k] + 4 + s * ROW + ROW / 2 + 3; }
    var svgW = TIMEW + laneW * lanes.length + 20;

    var chart = document.getElementById('chart');
    var svg = el('svg', { width: svgW, height: height, viewBox: '0 0 ' + svgW + ' ' + height }, chart);
    el('defs', {}, svg);
    var defs = svg.firstChild;
    Object.keys(ARROW_COLORS).concat(['lost']).forEach(function (k) {
      var m = el('marker', { id: 'head-' + k, viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' }, defs);
      el('path', { d: 'M0,0 L10,5 L0,10 z', fill: k === 'lost' ? '#c62828' : ARROW_COLORS[k] }, m);
    });

    // Rows (click to select), the clock and the step labels down the left side.
    var gRows = el('g', { 'class': 'rows' }, svg);
    var rowRects = [];
    var lastTime = null;
    steps.forEach(function (s, k) {
      var h = Math.max(1, used[k]) * ROW + 8;
      var r = el('rect', { x: 0, y: top[k], width: svgW, height: h, 'class': 'row' + (k % 2 ? ' odd' : '') }, gRows);
      r.addEventListener('click', function () { select(k); });
      rowRects.push(r);
      var changed = s.time_label !== lastTime;
      if (changed && k > 0) { el('line', { x1: 0, x2: svgW, y1: top[k], y2: top[k], 'class': 'tick' }, gRows); }
      var tt = text(gRows, 6, top[k] + 17, s.time_label, 'time' + (changed ? '' : ' same'));
      tt.style.pointerEvents = 'none';
      lastTime = s.time_label;
      var no = text(gRows, 74, top[k] + 16, '#' + k, 'stepno');
      no.style.pointerEvents = 'none';
      var lab = text(gRows, 104, top[k] + 16, clip(s.label || '', 30), 'steplabel');
      lab.style.pointerEvents = 'none';
      el('title', {}, r).textContent = '#' + k + ' ' + s.time_label + ' ' + (s.label || '');
    });

    // Lanes and their heads.
    var gLanes = el('g', {}, svg);
    lanes.forEach(function (l) {
      var x = laneX(l.id);
      el('line', { x1: x, x2: x, y1: HEAD - 6, y2: height - 6, 'class': 'lane', 'data-lane': l.id }, gLanes);
      text(gLanes, x, 20, l.label, 'lane-head');
      text(gLanes, x, 34, l.kind === 'Client' ? 'client' : (l.kind === 'Partner' ? 'partner (state as announced)' : 'server'), 'lane-kind');
    });

    // State bands along the server lanes, one segment per run of equal state.
    var gBands = el('g', {}, svg);
    var statesSeen = {};
    serverLanes.forEach(function (l) {
      var x = laneX(l.id);
      var segStart = 0, cur;
      function snapOf(k) {
        var s = steps[k].servers.filter(function (v) { return v.lane === l.id; })[0];
        return s ? s : null;
      }
      function key(sn) { return sn ? (sn.state === null ? 'none:' + sn.detail : sn.state) : 'absent'; }
      function draw(from, to, sn) {
        if (!sn) { return; }
        var y1 = top[from], y2 = to + 1 < steps.length ? top[to + 1] : height - 6;
        var cls = 'band', fill = null, label;
        if (sn.state === null) {
          cls += (l.kind === 'Partner' || !sn.detail || sn.detail === 'unknown') ? ' unknown' : ' down';
          label = sn.detail || 'unknown';
        } else {
          fill = stateColor(sn.state);
          statesSeen[sn.state] = true;
          label = SHORT[sn.state] || sn.state;
        }
        var r = el('rect', { x: x - BAND / 2, y: y1, width: BAND, height: Math.max(2, y2 - y1), 'class': cls }, gBands);
        if (fill) { r.setAttribute('fill', fill); }
        if (l.kind === 'Partner') { r.setAttribute('fill-opacity', '0.55'); }
        r.style.pointerEvents = 'none';
        // Left of the band, or right of it on the last lane (clear of the arrows).
        var right = laneIndex[l.id] === lanes.length - 1;
        var bl = text(gBands, right ? x + BAND / 2 + 3 : x - BAND / 2 - 3, y1 + 12, label, 'band-label', right ? 'start' : 'end');
        bl.style.pointerEvents = 'none';
      }
      for (var k = 0; k < steps.length; k++) {
        var sn = snapOf(k);
        if (k === 0) { cur = sn; continue; }
        if (key(sn) !== key(cur)) { draw(segStart, k - 1, cur); segStart = k; cur = sn; }
      }
      if (steps.length) { draw(segStart, steps.length - 1, cur); }
    });

    // Marks: faults and other events, on a lane or across the servers.
    var gMarks = el('g', {}, svg);
    var faultKinds = {}, infoKinds = {};
    steps.forEach(function (s, k) {
      s.marks.forEach(function (m, j) {
        var yy = slotY(k, markSlot[k][j]);
        var fault = FAULTS.indexOf(m.kind) >= 0;
        (fault ? faultKinds : infoKinds)[m.kind] = true;
        var g = el('g', { 'class': 'mark ' + (fault ? 'fault' : 'info') + ' mark-' + m.kind }, gMarks);
        el('title', {}, g).textContent = m.label;
        if (m.lane === null) {
          var xs = serverLanes.map(function (l) { return laneX(l.id); });
          var x1 = Math.min.apply(null, xs) - 30, x2 = Math.max.apply(null, xs) + 30;
          var color = { Partition: '#c62828', Heal: '#2e7d32', Break: '#e65100' }[m.kind] || '#607d8b';
          el('line', { x1: x1, x2: x2, y1: yy, y2: yy, stroke: color, 'stroke-width': 2.5, 'stroke-dasharray': m.kind === 'Break' ? '2 3' : '8 4' }, g);
          // The label sits left of the servers, clear of the arrows between them.
          text(g, x1 - 6, yy + 4, m.label, null, 'end');
        } else {
          var x = laneX(m.lane);
          drawSymbol(g, m.kind, x, yy);
          var last = laneIndex[m.lane] === lanes.length - 1;
          text(g, last ? x - 12 : x + 12, yy + 4, m.label, null, last ? 'end' : 'start');
        }
      });
    });

    // Arrows.
    var gArrows = el('g', {}, svg);
    arrows.forEach(function (a, i) {
      var x1 = laneX(a.from), x2 = laneX(a.to);
      var y1 = slotY(a.sent, sendSlot[i]);
      var y2 = recvSlot[i] ? slotY(recvSlot[i].k, recvSlot[i].s) : y1;
      var lost = a.received === null;
      var dir = x2 > x1 ? 1 : -1;
      var sx = x1 + dir * (BAND / 2 + 1);
      var ex = lost ? x1 + (x2 - x1) * 0.7 : x2 - dir * (BAND / 2 + 1);
      var g = el('g', { 'class': 'arrow arrow-' + a.kind + (lost ? ' lost' : ''), 'data-from': a.from, 'data-to': a.to }, gArrows);
      el('line', { x1: sx, y1: y1, x2: ex, y2: y2, 'marker-end': 'url(#head-' + (lost ? 'lost' : a.kind) + ')' }, g);
      if (lost) {
        el('path', { d: 'M' + (ex - 5) + ',' + (y2 - 5) + ' l10,10 m0,-10 l-10,10', stroke: '#c62828', 'stroke-width': 2 }, g);
      }
      var full = a.name + (a.fields.length ? ' ' + fieldsText(a) : '') + (lost ? ' \u2014 lost: ' + (a.lost || '?') : '');
      var span = Math.abs(ex - sx);
      var chars = Math.max(16, Math.floor(span / 6.0) + (lost ? 8 : 0));
      // A label sits on its sending row (each row has one arrow end, so labels never share a
      // row): centred on a level arrow, starting at the sender on a slanted one.
      var level = y1 === y2;
      var lx = level ? (sx + ex) / 2 : sx + dir * 10, ly = y1 - 4;
      var t = text(g, lx, ly, clip(full, chars), null, level ? 'middle' : (dir > 0 ? 'start' : 'end'));
      t.setAttribute('font-weight', 'normal');
      el('title', {}, g).textContent = full + '  (sent at #' + a.sent + (lost ? ', never received' + (recvSlot[i] ? ', lost at #' + recvSlot[i].k : '') : ', received at #' + a.received) + ')';
    });

    legend(statesSeen, faultKinds, infoKinds, arrows);
    context(B);

    function select(k) {
      rowRects.forEach(function (r, j) {
        r.setAttribute('class', 'row' + (j % 2 ? ' odd' : '') + (j === k ? ' selected' : ''));
      });
      details(B, k);
    }
    if (steps.length) { select(Math.min(B.selected || 0, steps.length - 1)); }

    status.setAttribute('data-arrows', String(document.querySelectorAll('#chart g.arrow').length));
    status.setAttribute('data-lanes', String(document.querySelectorAll('#chart line.lane').length));
    status.setAttribute('data-steps', String(rowRects.length));
    status.setAttribute('data-faults', String(document.querySelectorAll('#chart g.mark.fault').length));
    status.removeAttribute('data-error');
    status.setAttribute('data-ok', '1');
  }

  function drawSymbol(g, kind, x, y) {
    switch (kind) {
      case 'Crash':
      case 'LostReply':
        el('path', { d: 'M' + (x - 6) + ',' + (y - 6) + ' l12,12 m0,-12 l-12,12', stroke: '#c62828', 'stroke-width': 3 }, g);
        break;
      case 'StorageLoss':
        el('rect', { x: x - 7, y: y - 7, width: 14, height: 14, fill: '#6d0019' }, g);
        el('path', { d: 'M' + (x - 5) + ',' + (y - 5) + ' l10,10 m0,-10 l-10,10', stroke: '#fff', 'stroke-width': 2 }, g);
        break;
      case 'Restart':
        el('polygon', { points: (x - 7) + ',' + (y + 6) + ' ' + (x + 7) + ',' + (y + 6) + ' ' + x + ',' + (y - 7), fill: '#2e7d32' }, g);
        break;
      case 'ClockStep':
        el('circle', { cx: x, cy: y, r: 7, fill: '#fff', stroke: '#b00020', 'stroke-width': 2 }, g);
        el('path', { d: 'M' + x + ',' + y + ' l0,-5 M' + x + ',' + y + ' l4,2', stroke: '#b00020', 'stroke-width': 1.5 }, g);
        break;
      case 'Command':
        el('polygon', { points: x + ',' + (y - 7) + ' ' + (x + 7) + ',' + y + ' ' + x + ',' + (y + 7) + ' ' + (x - 7) + ',' + y, fill: '#6a1b9a' }, g);
        break;
      case 'Timer':
        el('circle', { cx: x, cy: y, r: 5, fill: '#fff', stroke: '#37474f', 'stroke-width': 1.5 }, g);
        el('path', { d: 'M' + x + ',' + y + ' l0,-3.5 M' + x + ',' + y + ' l3,0', stroke: '#37474f', 'stroke-width': 1.2 }, g);
        break;
      case 'Break':
        el('path', { d: 'M' + (x - 6) + ',' + (y - 6) + ' l8,5 l-5,2 l8,5', stroke: '#e65100', 'stroke-width': 2.5, fill: 'none' }, g);
        break;
      case 'Note':
        el('rect', { x: x - 3.5, y: y - 3.5, width: 7, height: 7, fill: '#90a4ae' }, g);
        break;
      default:
        el('circle', { cx: x, cy: y, r: 4, fill: '#607d8b' }, g);
    }
  }

  function legend(statesSeen, faultKinds, infoKinds, arrows) {
    var lg = document.getElementById('legend');
    hel('span', 'States:', lg, 'title');
    var names = Object.keys(STATE_COLORS).filter(function (s) { return statesSeen[s]; });
    Object.keys(statesSeen).forEach(function (s) { if (names.indexOf(s) < 0) { names.push(s); } });
    names.forEach(function (s) {
      var item = hel('span', null, lg);
      var sw = hel('span', null, item, 'sw');
      sw.style.background = stateColor(s);
      item.appendChild(document.createTextNode(s));
    });
    var down = hel('span', null, lg);
    hel('span', null, down, 'sw').style.background = '#4a4a4a';
    down.appendChild(document.createTextNode('down'));
    hel('span', 'Arrows:', lg, 'title');
    var kinds = {};
    arrows.forEach(function (a) { kinds[a.kind] = true; if (a.received === null) { kinds.lost = true; } });
    Object.keys(ARROW_NAMES).concat(['lost']).forEach(function (k) {
      if (!kinds[k]) { return; }
      var item = hel('span', null, lg);
      var ln = hel('span', null, item, 'ln');
      ln.style.borderTopColor = k === 'lost' ? '#c62828' : ARROW_COLORS[k];
      if (k === 'lost' || k === 'Fin') { ln.style.borderTopStyle = 'dashed'; }
      item.appendChild(document.createTextNode(k === 'lost' ? 'never delivered' : ARROW_NAMES[k]));
    });
    var marks = Object.keys(faultKinds).concat(Object.keys(infoKinds));
    if (marks.length) {
      hel('span', 'Marks:', lg, 'title');
      marks.forEach(function (k) {
        var item = hel('span', null, lg);
        var s = el('svg', { width: 16, height: 16, viewBox: '0 0 16 16' }, item);
        s.style.verticalAlign = '-3px';
        if (k === 'Partition' || k === 'Heal' || k === 'Break') {
          var c = { Partition: '#c62828', Heal: '#2e7d32', Break: '#e65100' }[k];
          el('line', { x1: 0, x2: 16, y1: 8, y2: 8, stroke: c, 'stroke-width': 2.5, 'stroke-dasharray': k === 'Break' ? '2 3' : '5 3' }, s);
        } else {
          drawSymbol(s, k, 8, 8);
        }
        item.appendChild(document.createTextNode(' ' + k.replace(/([a-z])([A-Z])/g, '$1 $2').toLowerCase() + (FAULTS.indexOf(k) >= 0 ? ' (fault)' : '')));
      });
    }
  }

  function context(B) {
    var c = document.getElementById('context');
    B.context.forEach(function (line) { hel('div', line, c); });
    B.links.forEach(function (l) {
      var d = hel('div', null, c);
      var a = hel('a', l.label, d);
      if (/^(https?:|#|file:|[A-Za-z0-9_.\/-]+$)/.test(l.href)) { a.setAttribute('href', l.href); }
      d.appendChild(document.createTextNode(' ' + l.href));
    });
  }

  function details(B, k) {
    var d = document.getElementById('details');
    while (d.firstChild) { d.removeChild(d.firstChild); }
    var s = B.steps[k];
    hel('h2', 'Step #' + k + ' at ' + s.time_label + (s.label ? ': ' + s.label : ''), d);
    s.notes.forEach(function (n) { hel('div', n, d, 'note'); });
    var box = hel('div', null, d, 'servers');
    s.servers.forEach(function (sn) {
      var lane = B.lanes.filter(function (l) { return l.id === sn.lane; })[0];
      var div = hel('div', null, box, 'server');
      hel('h3', (lane ? lane.label : sn.lane) + ': ' + (sn.state || sn.detail || 'unknown') + (sn.state && sn.detail ? ' (' + sn.detail + ')' : ''), div);
      if (sn.timers.length) { hel('div', 'timers: ' + sn.timers.join(', '), div, 'timers'); }
      if (!sn.bindings.length) { hel('div', 'no bindings', div, 'note'); return; }
      var t = hel('table', null, div);
      var hr = hel('tr', null, t);
      ['resource', 'status', 'client', 'client expiry', 'acked partner lifetime', 'expiration time', 'pending'].forEach(function (h) { hel('th', h, hr); });
      sn.bindings.forEach(function (b) {
        var r = hel('tr', null, t);
        [b.resource, b.status, b.client || '-', b.expiry, b.acked_partner_lifetime, b.expiration_time, b.pending ? 'yes' : ''].forEach(function (v) { hel('td', v, r); });
      });
    });
  }

  try {
    render();
  } catch (e) {
    fail((e && (e.stack || e.message)) || e);
  }
})();
