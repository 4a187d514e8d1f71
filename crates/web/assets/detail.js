// Flow detail: the records behind one row (headers in wire order, bodies pretty-printed,
// redaction markers shown as such), the connection's TLS facts and process, what phonehome
// did with it (sinkholed, blocked, failed), and the request as a curl command.
'use strict';

function renderDetail(main, answer, leftOut) {
  const row = answer.row;
  const detail = answer.detail;
  const records = detail ? detail.records : [];
  const of = type => records.find(r => r.type === type);
  const request = of('request'), response = of('response'), error = of('error'), blocked = of('blocked'), conn = of('conn');
  main.append(el('p', {}, el('a', { href: '#flows', id: 'back', onclick: e => { e.preventDefault(); history.back(); } }, '\u2190 back'), ' ',
    el('span', { class: 'muted' }, 'row ' + row.i + (row.flow ? ', flow ' + row.flow : ''))));
  main.append(el('h2', { id: 'detail-title' }, row.method + ' ' + (request ? request.url : row.host + ':' + row.port + row.path)));
  main.append(el('p', { id: 'detail-state' }, stateBadges(row, request, error, blocked)));
  if (!detail) {
    main.append(note('This file does not carry this row\u2019s records: it embeds the first ' + (leftOut ? leftOut.max_bodies : '?') +
      ' rows\u2019 records (at most ' + bytes(leftOut ? leftOut.max_body_bytes : 0) + ' of bodies). Open the capture with `phonehome web CAPTURE` to see them.'));
    main.append(kv([['request body', bytes(row.request_size)], ['response body', bytes(row.response_size)]]));
    return;
  }
  for (const problem of detail.problems) main.append(el('div', { class: 'problem' }, problem));
  if (request) main.append(curlButton(request));
  const cols = el('div', { class: 'cols' });
  if (request) cols.append(el('section', { id: 'request' }, el('h3', {}, 'Request ' + (request.version || '')), headerTable(request.headers), body(request.body, request.headers)));
  if (response) cols.append(el('section', { id: 'response' }, el('h3', {}, 'Response ' + response.status + ' ' + (response.reason || '')),
    kv([['time to first byte', response.ttfb_ms !== undefined ? response.ttfb_ms + ' ms' : ''], ['duration', response.duration_ms !== undefined ? response.duration_ms + ' ms' : '']]),
    headerTable(response.headers), body(response.body, response.headers),
    response.status === 101 ? wsList(detail.ws || []) : null));
  main.append(cols);
  if (error) main.append(el('h3', {}, 'Failure'), kv([['phase', error.phase], ['message', error.message]]));
  if (blocked) main.append(el('h3', {}, 'Policy'), kv([['rule', blocked.rule], ['enforced', String(blocked.enforced !== false)]]));
  if (conn) main.append(connection(conn));
  else main.append(note('The connection\u2019s record (TLS, process) is shown when it names the process that opened it.'));
  if (detail.conversation) {
    const c = detail.conversation;
    main.append(el('h3', {}, 'LLM call'), kv([['api', c.api], ['model', c.request_model], ['session', c.session],
      ['tokens', (c.usage.input_tokens ?? '?') + ' in, ' + (c.usage.output_tokens ?? '?') + ' out']]),
      el('a', { href: '#conversation/' + encodeURIComponent(c.session || '') + '/' + c.flow }, 'open in Conversations'));
  }
}

function stateBadges(row, request, error, blocked) {
  const out = [];
  if (row.status) out.push(el('span', { class: 'badge ' + (row.status >= 400 ? 'bad' : 'ok') }, String(row.status)));
  if (row.sinkhole) out.push(el('span', { class: 'badge warn', id: 'sinkholed' }, 'sinkholed (' + row.sinkhole + '): phonehome answered it; nothing was forwarded'));
  if (row.kind === 'blocked' || (blocked && !row.sinkhole)) out.push(el('span', { class: 'badge bad' }, 'blocked'));
  if (error || row.kind === 'failure') out.push(el('span', { class: 'badge bad' }, 'failed' + (error ? ' (' + error.phase + ')' : '')));
  if (row.llm) out.push(el('span', { class: 'badge' }, 'LLM call'));
  if (row.process) out.push(el('span', { class: 'badge' }, 'process ' + row.process));
  return out;
}

function headerTable(headers) {
  if (!headers || !headers.length) return el('p', { class: 'muted' }, 'no headers');
  return el('table', { class: 'kv headers' }, headers.map(([name, value]) => el('tr', {}, el('td', {}, name), el('td', {}, withRedactions(value)))));
}

function contentType(headers) {
  const h = (headers || []).find(([name]) => name.toLowerCase() === 'content-type');
  return h ? h[1].toLowerCase() : '';
}

function body(b, headers) {
  if (!b) return el('p', { class: 'muted' }, 'no body');
  const out = el('div', { class: 'body' });
  const facts = [bytes(b.size) + ' on the wire'];
  if (b.decoded_from) facts.push('decoded from ' + b.decoded_from);
  if (b.truncated) facts.push('truncated: phonehome stored the first ' + bytes(b.data.length));
  out.append(el('p', { class: 'muted' }, facts.join(', ')));
  if (b.encoding === 'base64') {
    out.append(note('binary (stored as base64)'), pre(b.data.slice(0, 4096)));
    return out;
  }
  const type = contentType(headers);
  if (type.includes('text/event-stream')) out.append(sseList(b.data));
  else if (type.includes('x-www-form-urlencoded')) out.append(formTable(b.data));
  else out.append(pre(prettyJson(b.data)));
  return out;
}

function prettyJson(text) {
  try { return JSON.stringify(JSON.parse(text), null, 2); } catch (_) { /* not JSON */ }
  const lines = text.split('\n').filter(l => l.trim());
  try { return lines.map(l => JSON.stringify(JSON.parse(l), null, 2)).join('\n'); } catch (_) { return text; }
}

function formTable(text) {
  const pairs = [...new URLSearchParams(text)];
  return el('table', { class: 'kv' }, pairs.map(([k, v]) => el('tr', {}, el('td', {}, k), el('td', {}, withRedactions(v)))));
}

// Server-Sent Events (https://html.spec.whatwg.org/multipage/server-sent-events.html) as a list.
function sseList(text) {
  const events = text.split(/\r?\n\r?\n/).filter(e => e.trim());
  return el('ol', { class: 'sse' }, events.map(e => {
    let name = 'message';
    const data = [];
    for (const line of e.split(/\r?\n/)) {
      if (line.startsWith('event:')) name = line.slice(6).trim();
      else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
    }
    const joined = data.join('\n');
    let shown = joined;
    try { shown = JSON.stringify(JSON.parse(joined)); } catch (_) { /* as sent */ }
    return el('li', {}, el('span', { class: 'badge' }, name), ' ', withRedactions(shown));
  }));
}

// WebSocket messages (RFC 6455), in the order recorded.
function wsList(messages) {
  if (!messages.length) return note('No WebSocket message was recorded on this flow.');
  return el('section', { id: 'ws' }, el('h3', {}, 'WebSocket messages (' + messages.length + ')'),
    el('ol', { class: 'sse' }, messages.map(m => el('li', {},
      el('span', { class: 'badge' }, (m.dir === 'up' ? '\u2191 ' : '\u2193 ') + m.opcode), ' ', el('span', { class: 'muted' }, bytes(m.size) + ' '),
      m.encoding === 'base64' ? el('span', { class: 'muted' }, 'base64 ') : null, withRedactions(m.data || '')))));
}

function connection(conn) {
  const tls = conn.tls || {};
  const section = el('section', { id: 'connection' }, el('h3', {}, 'Connection ' + conn.conn + ' (' + conn.transport + ')'));
  section.append(kv([['client', conn.client], ['target', conn.target.host + ':' + conn.target.port],
    ['upstream', conn.upstream ? conn.upstream.addr + ' ' + (conn.upstream.version || '') : ''],
    ['SNI', tls.sni], ['ALPN offered', (tls.alpn_offered || []).join(', ')], ['ALPN', tls.alpn],
    ['TLS version', tls.version], ['JA3', tls.ja3], ['JA4', tls.ja4],
    ['bytes up / down', conn.bytes_up + ' / ' + conn.bytes_down]]));
  const p = conn.process;
  if (p && p.pid) {
    section.append(el('h3', {}, 'Process'), kv([['pid', p.pid], ['exe', p.exe], ['argv', (p.argv || []).join(' ')], ['started', p.start]]));
    if (conn.ancestry && conn.ancestry.length) {
      section.append(el('h3', {}, 'Ancestry'), el('ol', { id: 'ancestry' }, conn.ancestry.map(a => el('li', {}, a.pid + ' ' + (a.exe || '') + (a.argv ? ' ' + a.argv.join(' ') : '')))));
    }
  } else if (p && p.unknown) {
    section.append(note('process not known: ' + p.unknown));
  }
  return section;
}

function shellQuote(text) {
  return "'" + String(text).replace(/'/g, "'\\''") + "'";
}

function curlCommand(request) {
  const parts = ['curl', '-X', request.method, shellQuote(request.url)];
  for (const [name, value] of request.headers || []) {
    if (name.startsWith(':') || name.toLowerCase() === 'content-length') continue;
    parts.push('-H', shellQuote(name + ': ' + value));
  }
  if (request.body && request.body.encoding === 'utf8') parts.push('--data-binary', shellQuote(request.body.data));
  return parts.join(' ');
}

function curlButton(request) {
  const text = curlCommand(request);
  const shown = el('pre', { hidden: true, id: 'curl' }, withRedactions(text));
  const button = el('button', { id: 'copy-curl', title: 'redacted values stay redacted' }, 'copy as curl');
  button.addEventListener('click', async () => {
    shown.hidden = false;
    try { await navigator.clipboard.writeText(text); button.textContent = 'copied'; } catch (_) { button.textContent = 'select the command below'; }
  });
  return el('div', {}, button, shown);
}
