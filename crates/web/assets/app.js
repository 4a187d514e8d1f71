// The page: the views by the URL's hash, the summary (polled while the server builds it, and
// again while a live capture grows), keyboard shortcuts, and what the input's problems are.
'use strict';

const app = {
  source: openSource(),
  summary: null,
  state: null,
  view: null,
  flowsView: null,
};

function parseHash() {
  const hash = decodeURIComponent(location.hash.slice(1)) ? location.hash.slice(1) : 'overview';
  const [path, query] = hash.split('?');
  const filter = {};
  for (const [k, v] of new URLSearchParams(query || '')) filter[k] = v;
  return { parts: path.split('/').map(decodeURIComponent), filter };
}

async function loadSummary() {
  try {
    app.state = await app.source.summary();
  } catch (e) {
    app.state = { result: { error: String(e.message || e) }, index: {} };
  }
  app.summary = app.state.result && app.state.result.summary ? app.state.result.summary : null;
  app.causeIndex = null;
  app.sessions = null;
  showProblems();
  document.getElementById('live').hidden = !app.state.live;
  if (app.summary) document.getElementById('input').textContent = app.summary.input;
  if (app.state.pending || !app.state.result) setTimeout(loadSummary, 400);
  if (['overview', 'conversations', 'conversation', 'processes', 'telemetry', 'diff'].includes(app.view)) route();
  else if (app.flowsView && app.summary) app.flowsView.draw();
}

// Flow id → [{call, caused}] of the tool calls that caused it (the analysis's join), once the
// summary is there.
function causeIndex() {
  if (app.causeIndex || !app.summary) return app.causeIndex;
  const byFlow = new Map();
  for (const call of app.summary.causes.tool_calls) {
    for (const caused of call.caused) {
      for (const flow of caused.flows) {
        if (!byFlow.has(flow)) byFlow.set(flow, []);
        byFlow.get(flow).push({ call, caused });
      }
    }
  }
  app.causeIndex = byFlow;
  return byFlow;
}

// The agent session of an LLM call, by its flow.
function sessionOfFlow(flow) {
  if (!app.summary) return null;
  if (!app.sessions) app.sessions = new Map(app.summary.conversations.map(c => [c.flow, c.session || '']));
  return app.sessions.get(flow);
}

function showProblems() {
  const box = document.getElementById('problems');
  const out = [];
  const s = app.state;
  if (s.result && s.result.error) out.push(s.result.error);
  if (s.index && s.index.failure) out.push(s.index.failure);
  const har = app.summary && app.summary.report.setup.input_format === 'har';
  if (!har) for (const [line, why] of (s.index && s.index.bad_lines) || []) out.push('line ' + line + ': ' + why);
  for (const w of (app.summary && app.summary.warnings) || []) out.push('warning: ' + w);
  const left = app.source.leftOut();
  const notes = [];
  if (har) notes.push(note('This is a HAR file: the Overview and Conversations come from it; the flow list reads phonehome captures only.'));
  if (left && left.rows) notes.push(note('This file lists every row but embeds the records (headers, bodies) of the first ' +
    (app.source.data.details.length) + ' only: ' + left.rows + ' rows (' + bytes(left.bytes) + ' of bodies) were left out (at most ' +
    left.max_bodies + ' rows and ' + bytes(left.max_body_bytes) + ' of bodies, the records and their HAR copy together, are embedded; see --max-bodies).'));
  box.replaceChildren(...out.map(p => el('div', { class: 'problem', role: 'alert' }, p)), ...notes);
}

function needSummary(main) {
  if (app.summary) return true;
  const rows = app.state && app.state.index ? app.state.index.rows : 0;
  if (!(app.state && app.state.result && app.state.result.error)) main.append(note('Reading the capture\u2026 ' + (rows || 0) + ' rows indexed so far.'));
  return false;
}

async function route() {
  const { parts, filter } = parseHash();
  const main = document.getElementById('main');
  const view = parts[0] || 'overview';
  app.view = view;
  for (const a of document.querySelectorAll('nav a')) a.classList.toggle('active', a.dataset.view === view || (view === 'flow' && a.dataset.view === 'flows') || (view === 'conversation' && a.dataset.view === 'conversations'));
  const fresh = el('main', { id: 'main' });
  main.replaceWith(fresh);
  app.flowsView = null;
  if (view === 'flows') { app.flowsView = new FlowsView(fresh, app.source, filter); return; }
  if (view === 'flow') { await showFlow(fresh, Number(parts[1])); return; }
  if (view === 'flow-of') { await flowOf(Number(parts[1])); return; }
  if (!needSummary(fresh)) return;
  if (view === 'conversations') renderConversations(fresh, app.summary);
  else if (view === 'conversation') renderConversation(fresh, app.summary, parts[1] || '', parts[2]);
  else if (view === 'processes') renderProcesses(fresh, app.summary, filter);
  else if (view === 'telemetry') renderTelemetry(fresh, app.summary, filter);
  else if (view === 'diff') renderDiff(fresh, app.summary);
  else renderOverview(fresh, app.summary);
}

async function showFlow(main, i) {
  try {
    const answer = await app.source.flow(i);
    if (!answer) { main.append(note('No row ' + i + '.')); return; }
    renderDetail(main, answer, app.source.leftOut());
  } catch (e) {
    main.append(el('div', { class: 'problem' }, String(e.message || e)));
  }
}

// A flow id (from a conversation) to its row.
async function flowOf(flow) {
  let from = 0;
  for (;;) {
    const page = await app.source.flows({}, from, 1000);
    const row = page.rows.find(r => r.flow === flow && r.kind !== 'blocked') || page.rows.find(r => r.flow === flow);
    if (row) { location.replace('#flow/' + row.i); return; }
    from += page.rows.length;
    if (!page.rows.length || from >= page.matched) break;
  }
  document.getElementById('main').append(note('Flow ' + flow + ' is not in the list.'));
}

function keydown(e) {
  const typing = ['INPUT', 'SELECT', 'TEXTAREA'].includes(document.activeElement && document.activeElement.tagName);
  if (typing) { if (e.key === 'Escape') document.activeElement.blur(); return; }
  const views = { 1: 'overview', 2: 'flows', 3: 'conversations', 4: 'processes', 5: 'telemetry', 6: 'diff' };
  if (views[e.key]) { location.hash = '#' + views[e.key]; return; }
  if (e.key === 'h' && app.flowsView) { app.flowsView.har.click(); return; }
  if (e.key === '/' && app.flowsView) { e.preventDefault(); app.flowsView.search.focus(); return; }
  if (e.key === 'Escape' && app.view === 'flow') history.back();
  if (app.flowsView && ['ArrowDown', 'ArrowUp', 'j', 'k', 'Enter', 'PageDown', 'PageUp'].includes(e.key) && e.target === document.body) app.flowsView.key(e);
}

let summaryTimer = null;
function onGrown() {
  if (app.flowsView) app.flowsView.refresh();
  if (summaryTimer) return;
  summaryTimer = setTimeout(() => { summaryTimer = null; loadSummary(); }, 1500);
}

window.addEventListener('hashchange', route);
window.addEventListener('keydown', keydown);
route();
loadSummary().then(() => { if (app.source.live) app.source.subscribe(onGrown); });
