// Processes: the tree of the processes the capture names (each connection's owner and its
// ancestry), parent → children, with each process's connections and their requests, and the
// tool call that caused a connection when the analysis joined one. `#processes?pid=N` opens
// the tree at that process.
'use strict';

function renderProcesses(main, summary, filter) {
  const tree = summary.processes;
  if (!tree.processes.length) { main.append(note('The capture names no process (attribution was off, or this is a HAR file).')); return; }
  const byPid = new Map(tree.processes.map(p => [p.pid, p]));
  const children = new Map();
  const roots = [];
  for (const p of tree.processes) {
    if (p.ppid !== null && p.ppid !== p.pid && byPid.has(p.ppid)) {
      if (!children.has(p.ppid)) children.set(p.ppid, []);
      children.get(p.ppid).push(p);
    } else roots.push(p);
  }
  const callOf = connCauses(summary);
  const open = new Set();
  for (let pid = Number(filter.pid); byPid.has(pid) && !open.has(pid); pid = byPid.get(pid).ppid) open.add(pid);
  const seen = new Set();
  const node = p => {
    seen.add(p.pid);
    const kids = (children.get(p.pid) || []).filter(k => !seen.has(k.pid));
    const name = p.exe ? p.exe.split('/').pop() : '?';
    const head = el('span', {}, el('strong', {}, name), ' ', el('span', { class: 'muted' }, 'pid ' + p.pid),
      ' \u2014 ' + p.connections.length + (p.more_connections ? '+' + p.more_connections : '') + ' connections, ' + p.requests + ' requests');
    const body = [
      p.argv.length ? el('div', { class: 'argv' }, withRedactions(p.argv.join(' '))) : null,
      p.connections.length ? el('ul', { class: 'conns' }, p.connections.map(c => el('li', {},
        el('a', { href: '#flows?conn=' + c.conn }, c.host + ':' + c.port), ' ', el('span', { class: 'muted' }, 'connection ' + c.conn + ', ' + c.requests + ' requests'),
        callOf.has(c.conn) ? [' ', el('span', { class: 'badge' }, 'caused by ' + callOf.get(c.conn))] : null))) : null,
      kids.length ? el('ul', {}, kids.map(node)) : null,
    ];
    return el('li', { id: 'pid-' + p.pid, 'data-pid': p.pid },
      el('details', { open: !filter.pid || open.has(p.pid) || kids.length + p.connections.length < 8 }, el('summary', {}, head), body));
  };
  main.append(el('p', { class: 'muted' }, tree.processes.length + ' processes, parent \u2192 children, from the ancestry each connection recorded.'));
  if (tree.more_processes) main.append(note(tree.more_processes + ' more processes are not listed.'));
  main.append(el('div', { class: 'tree', id: 'process-tree' }, el('ul', {}, roots.map(node))));
  const target = document.getElementById('pid-' + filter.pid);
  if (target) target.scrollIntoView();
}

// Connection id → the tool call (its name) that caused it.
function connCauses(summary) {
  const out = new Map();
  for (const call of summary.causes.tool_calls) for (const c of call.caused) if (!out.has(c.conn)) out.set(c.conn, call.name);
  return out;
}
