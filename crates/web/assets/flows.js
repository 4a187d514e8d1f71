// Flows: a virtualised table of every row of the capture (only the rows in sight are in the
// DOM; pages are fetched as they scroll into view), with the filter in the URL's hash, the
// tool call that caused each flow (the analysis's join, from the summary), and the filtered
// flows as a HAR download.
'use strict';

const ROW_H = 24;
const KINDS = [['', 'all'], ['llm', 'LLM calls'], ['failed', 'failed'], ['blocked', 'blocked'], ['sinkholed', 'sinkholed']];

class FlowsView {
  constructor(main, source, filter) {
    this.source = source;
    this.filter = filter;
    this.pages = new Map();
    this.matched = 0;
    this.total = 0;
    this.selected = 0;
    this.build(main);
    this.reload();
  }

  build(main) {
    const f = this.filter;
    this.search = el('input', { type: 'search', placeholder: 'search (/): host, path, method, status, model, process', value: f.q || '', id: 'flow-search' });
    this.search.addEventListener('input', () => this.setFilter({ q: this.search.value }));
    const kind = el('select', { id: 'flow-kind', 'aria-label': 'kind' }, KINDS.map(([v, label]) => el('option', { value: v, selected: (f.kind || '') === v }, label)));
    kind.addEventListener('change', () => this.setFilter({ kind: kind.value }));
    const chips = [];
    if (f.host) chips.push(el('span', { class: 'badge' }, 'host ' + f.host + ' ', el('a', { href: '#', onclick: e => { e.preventDefault(); this.setFilter({ host: '' }, true); } }, '\u00d7')));
    if (f.t0 || f.t1) chips.push(el('span', { class: 'badge', id: 'time-chip' }, 'time ' + clock(f.t0) + '\u2013' + clock(f.t1) + ' ', el('a', { href: '#', onclick: e => { e.preventDefault(); this.setFilter({ t0: '', t1: '' }, true); } }, '\u00d7')));
    if (f.conn) chips.push(el('span', { class: 'badge' }, 'connection ' + f.conn + ' ', el('a', { href: '#', onclick: e => { e.preventDefault(); this.setFilter({ conn: '' }, true); } }, '\u00d7')));
    this.count = el('span', { class: 'muted', id: 'flow-count' });
    this.harStatus = el('span', { class: 'muted', id: 'har-status' });
    this.har = el('a', { id: 'flow-har', class: 'button', href: '#', download: 'phonehome-flows.har', title: 'the flows of this filter as HAR 1.2 (h)' }, 'HAR');
    this.har.addEventListener('click', e => this.downloadHar(e));
    main.append(el('div', { class: 'toolbar' }, this.search, kind, chips, this.count, this.har, this.harStatus));
    this.setHarLink();
    const head = el('div', { class: 'head' }, ['time', 'process', 'method', 'host + path', 'status', 'up', 'down', 'ms', 'purpose', 'model', 'caused by'].map(h => el('span', { class: ['up', 'down', 'ms'].includes(h) ? 'num' : null }, h)));
    this.spacer = el('div', {});
    this.viewport = el('div', { class: 'viewport', tabindex: 0, id: 'flow-rows' }, this.spacer);
    this.viewport.addEventListener('scroll', () => this.draw());
    this.viewport.addEventListener('keydown', e => this.key(e));
    main.append(el('div', { class: 'flows' }, head, this.viewport));
  }

  setFilter(change, rebuild) {
    Object.assign(this.filter, change);
    const q = filterQuery(this.filter);
    const hash = '#flows' + (q ? '?' + q : '');
    if (rebuild) { location.hash = hash; return; }
    history.replaceState(null, '', hash);
    this.setHarLink();
    this.selected = 0;
    this.viewport.scrollTop = 0;
    this.reload();
  }

  // Served: a link to the server's HAR of the filter. From a file: made on click.
  setHarLink() {
    if (this.source.harUrl) this.har.setAttribute('href', this.source.harUrl(this.filter));
  }

  async downloadHar(e) {
    if (this.source.harUrl) return;
    e.preventDefault();
    const { blob, missing } = await this.source.har(this.filter);
    const url = URL.createObjectURL(blob);
    const a = el('a', { href: url, download: 'phonehome-flows.har' });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
    this.harStatus.textContent = missing ? missing + ' of these flows are not in the HAR: this file does not carry their records (phonehome export writes them all)' : '';
  }

  async reload() {
    this.pages = new Map();
    await this.page(0);
    this.draw();
  }

  async page(n) {
    if (this.pages.has(n)) return this.pages.get(n);
    const pending = this.source.flows(this.filter, n * PAGE, PAGE).then(answer => {
      this.matched = answer.matched;
      this.total = answer.total;
      this.pages.set(n, answer.rows);
      return answer.rows;
    });
    this.pages.set(n, pending);
    return pending;
  }

  // Called when a live capture has grown.
  refresh() {
    this.pages = new Map();
    this.page(Math.floor(this.viewport.scrollTop / ROW_H / PAGE)).then(() => this.draw());
  }

  draw() {
    this.count.textContent = this.matched + ' of ' + this.total + ' rows';
    this.spacer.style.height = (this.matched * ROW_H) + 'px';
    const first = Math.floor(this.viewport.scrollTop / ROW_H);
    const last = Math.min(this.matched, first + Math.ceil((this.viewport.clientHeight || 600) / ROW_H) + 1);
    const rows = [];
    let waiting = false;
    for (let i = first; i < last; i++) {
      const page = this.pages.get(Math.floor(i / PAGE));
      if (!Array.isArray(page)) {
        waiting = true;
        if (!page) this.page(Math.floor(i / PAGE)).then(() => this.draw());
        continue;
      }
      const row = page[i % PAGE];
      if (row) rows.push(this.rowNode(row, i));
    }
    if (!waiting || rows.length) this.viewport.replaceChildren(this.spacer, ...rows);
  }

  rowNode(r, i) {
    const classes = ['row'];
    if (i === this.selected) classes.push('sel');
    if (r.failed) classes.push('failed');
    if (r.sinkhole) classes.push('sinkholed');
    const host = r.host + (r.port === 443 || r.port === 80 ? '' : ':' + r.port);
    let status = r.status ? String(r.status) : r.error ? r.error : r.kind === 'blocked' ? 'blocked' : '';
    if (r.sinkhole) status = 'sinkholed ' + status;
    const node = el('div', { class: classes.join(' '), 'data-i': r.i, role: 'row' },
      el('span', {}, r.time), el('span', {}, r.process || ''), el('span', {}, r.method),
      el('span', { class: 'path', title: host + r.path }, host + r.path),
      el('span', { class: 'status', title: status }, status), el('span', { class: 'num' }, bytes(r.request_size)),
      el('span', { class: 'num' }, bytes(r.response_size)), el('span', { class: 'num' }, r.duration_ms ?? ''),
      el('span', {}, r.purpose || ''), el('span', {}, r.model || ''), causedCell(r));
    node.style.top = (i * ROW_H) + 'px';
    node.addEventListener('click', () => { location.hash = '#flow/' + r.i; });
    return node;
  }

  key(e) {
    const move = { ArrowDown: 1, j: 1, ArrowUp: -1, k: -1, PageDown: 20, PageUp: -20 }[e.key];
    if (move) {
      e.preventDefault();
      this.selected = Math.max(0, Math.min(this.matched - 1, this.selected + move));
      const top = this.selected * ROW_H;
      if (top < this.viewport.scrollTop) this.viewport.scrollTop = top;
      else if (top + ROW_H > this.viewport.scrollTop + this.viewport.clientHeight) this.viewport.scrollTop = top + ROW_H - this.viewport.clientHeight;
      this.draw();
    } else if (e.key === 'Enter') {
      const row = this.rowAt(this.selected);
      if (row) location.hash = '#flow/' + row.i;
    }
  }

  rowAt(i) {
    const page = this.pages.get(Math.floor(i / PAGE));
    return Array.isArray(page) ? page[i % PAGE] : null;
  }
}

// The tool call that caused the row's flow (its name, and how it was joined unless by its
// command line), linked to the call in its conversation; "agent's own" for a flow of a known
// process that no tool call caused; empty while the summary is being built or when the
// process is not known.
function causedCell(r) {
  const causes = causeIndex();
  if (!causes) return el('span', { class: 'caused' }, '');
  const found = r.flow !== null && r.flow !== undefined ? causes.get(r.flow) : null;
  if (!found) return el('span', { class: 'caused muted' }, r.process && r.flow !== null ? 'agent\u2019s own' : '');
  const { call, caused } = found[0];
  const how = caused.method === 'argv' ? '' : ' (' + (caused.method === 'window' ? 'window only' : caused.method) + ')';
  const label = call.name + how;
  const session = sessionOfFlow(call.flow);
  const link = el('a', { href: '#conversation/' + encodeURIComponent(session || '') + '/' + call.flow,
    title: 'tool call ' + (call.id || call.name) + (call.command ? ': ' + call.command : ''), onclick: e => e.stopPropagation() }, label);
  return el('span', { class: 'caused' }, link);
}

function clock(ms) {
  if (ms === undefined || ms === '') return '';
  const n = Number(ms);
  const pad = (v, w) => String(v).padStart(w, '0');
  return pad(Math.floor(n / 3600000) % 24, 2) + ':' + pad(Math.floor(n / 60000) % 60, 2) + ':' + pad(Math.floor(n / 1000) % 60, 2) + '.' + pad(n % 1000, 3);
}
