// Overview: the report's verdict, findings, numbers and hosts, and requests per host over time
// (an SVG timeline; drag across it to open the flows of that time span).
'use strict';

const SUMMARY_KEYS = [
  ['requests', 'requests'], ['llm_calls', 'LLM calls'], ['unique_domains', 'hosts'],
  ['unique_signatures', 'request signatures'], ['failed_requests', 'failed requests'],
  ['failed_connection_attempts', 'failed connections'], ['blocked', 'blocked'],
  ['sinkholed', 'sinkholed'], ['bytes_up', 'bytes up'], ['bytes_down', 'bytes down'],
];

// Milliseconds since midnight UTC of an RFC 3339 time.
function timeOfDay(rfc3339) {
  const d = new Date(rfc3339);
  return ((d.getUTCHours() * 60 + d.getUTCMinutes()) * 60 + d.getUTCSeconds()) * 1000 + d.getUTCMilliseconds();
}

function renderOverview(main, summary) {
  const report = summary.report;
  const s = report.summary;
  main.append(el('h2', {}, 'Verdict'));
  main.append(table(['question', 'answer', 'evidence'], report.verdict.map(v =>
    [v.question, el('span', { class: 'badge ' + (v.answer === 'yes' ? 'warn' : v.answer === 'no' ? 'ok' : '') }, v.answer), v.evidence])));
  main.append(el('div', { class: 'cards', id: 'numbers' }, SUMMARY_KEYS.map(([key, label]) =>
    el('div', { class: 'card' }, el('div', { class: 'v', 'data-k': key }, String(s[key])),
      el('div', { class: 'k' }, label + (key.startsWith('bytes') ? ' (' + bytes(s[key]) + ')' : ''))))));
  const findings = report.findings;
  if (findings.be_aware_of.length || findings.respected.length) {
    main.append(el('h2', {}, 'Findings'));
    main.append(el('ul', {}, findings.be_aware_of.map(f => el('li', {}, el('span', { class: 'badge warn' }, 'be aware'), ' ', f)),
      findings.respected.map(f => el('li', {}, el('span', { class: 'badge ok' }, 'respected'), ' ', f))));
  }
  main.append(el('h2', {}, 'Requests per host over time'));
  main.append(timeline(report.timeline));
  main.append(el('h2', {}, 'Hosts'));
  main.append(table(['host', 'purpose', 'owner', 'requests', 'failures', 'up', 'down', 'concern'],
    report.domains.map(d => [el('a', { href: '#flows?host=' + encodeURIComponent(d.domain) }, d.domain),
      d.purpose || '', d.owner || '', d.requests, d.failures, bytes(d.bytes_up), bytes(d.bytes_down), d.concern]),
    [3, 4, 5, 6]));
  if (report.llm.length) {
    main.append(el('h2', {}, 'LLM calls'));
    main.append(table(['host', 'api', 'model', 'calls', 'errors', 'tokens in', 'tokens out'],
      report.llm.map(l => [l.host, l.api, l.model, l.calls, l.errors, l.input_tokens, l.output_tokens]), [3, 4, 5, 6]));
  }
  if (report.leaks.length || report.prompt_leaks.length) {
    main.append(el('h2', {}, 'Leaks'));
    main.append(pre(JSON.stringify({ leaks: report.leaks, prompt_leaks: report.prompt_leaks }, null, 2)));
  }
}

function timeline(t) {
  const hosts = (t.hosts || []).slice(0, 20);
  if (!hosts.length || !t.start) return note('No requests to draw.');
  const labelW = 220, width = 960, rowH = 20;
  const span = Math.max(1, ...hosts.map(h => h.origin_ms + h.counts.length * h.bucket_ms));
  const max = Math.max(1, ...hosts.flatMap(h => h.counts));
  const plotW = width - labelW - 10;
  const x = ms => labelW + (ms / span) * plotW;
  const height = hosts.length * rowH + 24;
  const root = svg('svg', { class: 'timeline', width, height, viewBox: '0 0 ' + width + ' ' + height, role: 'img',
    'aria-label': 'requests per host over time; drag to filter the flows' });
  hosts.forEach((h, row) => {
    const y = row * rowH + 4;
    const label = svg('text', { x: 4, y: y + 13, class: 'label' });
    label.textContent = h.host.length > 32 ? h.host.slice(0, 31) + '\u2026' : h.host;
    root.append(label);
    h.counts.forEach((c, i) => {
      if (!c) return;
      const barH = Math.max(2, (c / max) * (rowH - 4));
      const start = h.origin_ms + i * h.bucket_ms;
      const rect = svg('rect', { class: 'bar', x: x(start), y: y + rowH - 4 - barH,
        width: Math.max(1.5, (h.bucket_ms / span) * plotW - 0.5), height: barH });
      const title = svg('title', {});
      title.textContent = h.host + ': ' + c + ' request(s)';
      rect.append(title);
      root.append(rect);
    });
  });
  const axis = svg('text', { x: labelW, y: height - 6, class: 'label' });
  axis.textContent = t.start + '  \u2192  ' + (t.end || '') + '   (drag to filter the flows)';
  root.append(axis);
  brush(root, labelW, plotW, span, timeOfDay(t.start), height);
  return root;
}

// Dragging across the plot opens the flows of that time span.
function brush(root, left, plotW, span, startTod, height) {
  const rect = svg('rect', { class: 'brush', x: 0, y: 0, width: 0, height });
  root.append(rect);
  let from = null;
  const at = e => {
    const box = root.getBoundingClientRect();
    return Math.min(left + plotW, Math.max(left, (e.clientX - box.left) * (root.viewBox.baseVal.width / box.width)));
  };
  root.addEventListener('mousedown', e => { from = at(e); rect.setAttribute('x', from); rect.setAttribute('width', 0); });
  root.addEventListener('mousemove', e => {
    if (from === null) return;
    const to = at(e);
    rect.setAttribute('x', Math.min(from, to));
    rect.setAttribute('width', Math.abs(to - from));
  });
  root.addEventListener('mouseup', e => {
    if (from === null) return;
    const to = at(e);
    const [a, b] = [Math.min(from, to), Math.max(from, to)];
    from = null;
    if (b - a < 3) return;
    const ms = px => Math.round(((px - left) / plotW) * span);
    const day = 86400000;
    const t0 = (startTod + ms(a)) % day, t1 = (startTod + ms(b)) % day;
    location.hash = '#flows?' + filterQuery({ t0: String(t0), t1: String(t1 + 1) });
  });
}
