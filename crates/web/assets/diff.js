// Diff: `phonehome diff`'s analysis of this input (A) and the one given with --diff (B), side
// by side: hosts and request signatures only in one, what changed per host and signature
// (headers, header order, TLS fingerprint, …), processes, and the identifiers both carry.
'use strict';

function renderDiff(main, summary) {
  const d = summary.diff;
  if (!d) { main.append(note('No second capture: start with phonehome web A.jsonl --diff B.jsonl (or --output FILE.html) to compare two captures.')); return; }
  main.append(el('h2', { id: 'diff-title' }, 'A: ' + d.a + '  \u2194  B: ' + d.b));
  const same = !d.hosts_only_in_a.length && !d.hosts_only_in_b.length && !d.signatures_only_in_a.length &&
    !d.signatures_only_in_b.length && !d.hosts.length && !d.signatures.length && !d.processes.length;
  if (same) main.append(note('The two inputs look the same: same hosts, same request signatures, same processes.'));
  main.append(sides('Hosts only in one', 'diff-hosts', d.hosts_only_in_a, d.hosts_only_in_b));
  if (d.hosts.length) {
    main.append(el('h3', {}, 'Hosts in both that differ'));
    main.append(changes(d.hosts.flatMap(h => h.changes.map(c => [h.host, c]))));
  }
  main.append(sides('Request signatures only in one', 'diff-signatures', d.signatures_only_in_a, d.signatures_only_in_b));
  if (d.signatures.length) {
    main.append(el('h3', {}, 'Request signatures in both that differ'));
    main.append(changes(d.signatures.flatMap(s => [
      ...(s.headers_only_in_a.length || s.headers_only_in_b.length ? [[s.signature, { what: 'headers only in one', a: s.headers_only_in_a.join(', '), b: s.headers_only_in_b.join(', ') }]] : []),
      ...s.changes.map(c => [s.signature, c])])));
  }
  if (d.unattributed.length) main.append(note('No process named in ' + d.unattributed.join(' and ') + ': the processes are not compared.'));
  main.append(sides('Processes only in one', 'diff-processes', d.processes_only_in_a, d.processes_only_in_b));
  if (d.processes.length) {
    const side = s => s ? s.connections + ' connections: ' + Object.entries(s.hosts).map(([h, n]) => h + ' \u00d7' + n).join(', ') : '\u2014';
    main.append(el('h3', {}, 'Connections per process'));
    main.append(el('table', { class: 'diff' }, el('thead', {}, el('tr', {}, el('th', {}, 'process'), el('th', {}, 'A'), el('th', {}, 'B'))),
      el('tbody', {}, d.processes.map(p => el('tr', {}, el('td', {}, p.exe), el('td', { class: 'a' }, side(p.a)), el('td', { class: 'b' }, side(p.b)))))));
  }
  if (d.identifiers_in_both.length) {
    main.append(el('h3', {}, 'Persistent identifiers sent in both (they follow the user across runs)'));
    main.append(el('table', { class: 'diff', id: 'diff-identifiers' }, el('thead', {}, el('tr', {}, el('th', {}, 'identifier'), el('th', {}, 'A: sent to'), el('th', {}, 'B: sent to'))),
      el('tbody', {}, d.identifiers_in_both.map(i => el('tr', {}, el('td', {}, i.name + ' = ', el('code', {}, withRedactions(i.value))),
        el('td', { class: 'a' }, i.hosts_a.join(', ')), el('td', { class: 'b' }, i.hosts_b.join(', ')))))));
  }
}

// Two columns: what only A has, what only B has.
function sides(title, id, a, b) {
  const list = items => items.length ? el('ul', {}, items.map(x => el('li', {}, x))) : el('span', { class: 'muted' }, 'none');
  return el('div', {}, el('h3', {}, title), el('table', { class: 'diff sides', id },
    el('thead', {}, el('tr', {}, el('th', {}, 'only in A (' + a.length + ')'), el('th', {}, 'only in B (' + b.length + ')'))),
    el('tbody', {}, el('tr', {}, el('td', { class: 'a' }, list(a)), el('td', { class: 'b' }, list(b))))));
}

// Rows of [subject, {what, a, b}].
function changes(rows) {
  return el('table', { class: 'diff' }, el('thead', {}, el('tr', {}, ['', 'what', 'A', 'B'].map(h => el('th', {}, h)))),
    el('tbody', {}, rows.map(([subject, c]) => el('tr', {}, el('td', {}, subject), el('td', {}, c.what),
      el('td', { class: 'a' }, withRedactions(c.a)), el('td', { class: 'b' }, withRedactions(c.b))))));
}
