// Where the page's data comes from: the exported file's embedded JSON, or the server's API
// (same shapes). The filter rules match crates/web/src/filter.rs.
'use strict';

const PAGE = 200;

function rowMatches(row, f) {
  if (f.kind === 'llm' && !row.llm) return false;
  if (f.kind === 'failed' && !row.failed) return false;
  if (f.kind === 'blocked' && row.kind !== 'blocked') return false;
  if (f.kind === 'sinkholed' && !row.sinkhole) return false;
  if (f.host && row.host !== f.host) return false;
  if (f.conn !== undefined && f.conn !== '' && row.conn !== Number(f.conn)) return false;
  if (f.t0 !== undefined && f.t0 !== '' && row.t < Number(f.t0)) return false;
  if (f.t1 !== undefined && f.t1 !== '' && row.t >= Number(f.t1)) return false;
  if (f.q) {
    const q = f.q.trim().toLowerCase();
    const fields = [row.method, row.host, row.path, row.model, row.error, row.purpose,
      row.status ? String(row.status) : '', row.process];
    if (!fields.some(x => x && String(x).toLowerCase().includes(q))) return false;
  }
  return true;
}

function filterQuery(f) {
  const params = new URLSearchParams();
  for (const key of ['q', 'kind', 'host', 'conn', 't0', 't1']) if (f[key]) params.set(key, f[key]);
  return params.toString();
}

class FileSource {
  constructor(data) {
    this.data = data;
    this.live = false;
    this.cache = { key: null, rows: null };
  }
  async summary() {
    return { live: false, pending: false, index: { rows: this.data.rows.length, done: true,
      bad_lines: this.data.left_out.bad_lines }, result: { summary: this.data.summary } };
  }
  async flows(f, from, count) {
    const key = filterQuery(f);
    if (this.cache.key !== key) this.cache = { key, rows: this.data.rows.filter(r => rowMatches(r, f)) };
    const rows = this.cache.rows;
    return { total: this.data.rows.length, matched: rows.length, from, rows: rows.slice(from, from + count) };
  }
  async flow(i) {
    const row = this.data.rows[i];
    if (!row) return null;
    return { row, detail: this.data.details[i] || null };
  }
  leftOut() { return this.data.left_out; }
  // The filter's flows as HAR, from the HAR the file embeds (the records the file carries):
  // a Blob to save, and how many of the filter's flows the file does not carry.
  async har(f) {
    const rows = (await this.flows(f, 0, Infinity)).rows;
    const flows = new Set(rows.map(r => r.flow).filter(x => x !== null && x !== undefined));
    const conns = new Set(rows.map(r => r.conn).filter(x => x !== null && x !== undefined));
    const log = this.data.har.log;
    const entries = log.entries.filter(e => flows.has(e._phonehome_flow));
    const extra = log._phonehome || {};
    const kept = Object.assign({}, extra, {
      conns: (extra.conns || []).filter(c => conns.has(c.conn)),
      blocked: (extra.blocked || []).filter(b => flows.has(b.flow)),
      failures: (extra.failures || []).filter(x => conns.has(x.conn)),
    });
    const doc = { log: Object.assign({}, log, { entries, _phonehome: kept }) };
    return { blob: new Blob([JSON.stringify(doc)], { type: 'application/json' }), missing: flows.size - entries.length };
  }
  subscribe() {}
}

class ServedSource {
  constructor() { this.live = false; }
  async get(path) {
    const response = await fetch(path, { cache: 'no-store' });
    if (!response.ok) throw new Error(path + ': ' + response.status + ' ' + (await response.text()));
    return response.json();
  }
  async summary() {
    const s = await this.get('api/summary');
    this.live = s.live;
    return s;
  }
  flows(f, from, count) {
    const q = filterQuery(f);
    return this.get('api/flows?from=' + from + '&count=' + count + (q ? '&' + q : ''));
  }
  flow(i) { return this.get('api/flow/' + i); }
  // The server makes the HAR: a link to it.
  harUrl(f) {
    const q = filterQuery(f);
    return 'api/har' + (q ? '?' + q : '');
  }
  leftOut() { return null; }
  // Calls back with {rows, generation, done} whenever the capture has grown.
  subscribe(callback) {
    if (this.events) return;
    this.events = new EventSource('api/events');
    this.events.addEventListener('rows', e => callback(JSON.parse(e.data)));
  }
}

function openSource() {
  const embedded = document.getElementById('data');
  return embedded ? new FileSource(JSON.parse(embedded.textContent)) : new ServedSource();
}
