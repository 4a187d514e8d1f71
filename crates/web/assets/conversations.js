// Conversations: the LLM calls grouped by the agent's session; a session opened shows its
// turns (system prompt, new messages, tool calls and their results, tokens, timings), and under
// each tool call the processes and connections it caused (the analysis's join), linked to
// their flows.
'use strict';

const NO_SESSION = '(no session id)';

function sessionsOf(conversations) {
  const sessions = new Map();
  for (const c of conversations) {
    const key = c.session || NO_SESSION;
    if (!sessions.has(key)) sessions.set(key, []);
    sessions.get(key).push(c);
  }
  return sessions;
}

function sum(calls, field) {
  return calls.reduce((n, c) => n + (c.usage[field] || 0), 0);
}

function renderConversations(main, summary) {
  const sessions = sessionsOf(summary.conversations);
  if (!sessions.size) { main.append(note('No LLM call was decoded in this capture.')); return; }
  if (summary.conversations_left_out) main.append(note(summary.conversations_left_out + ' more calls are not listed here (`phonehome llm` lists them all).'));
  main.append(table(['session', 'turns', 'side calls', 'models', 'tokens in', 'tokens out', 'first call'],
    [...sessions].map(([key, calls]) => {
      const turns = calls.filter(c => !c.meta);
      return [el('a', { href: '#conversation/' + encodeURIComponent(key === NO_SESSION ? '' : key), class: 'session' }, key),
        turns.length, calls.length - turns.length, [...new Set(calls.map(c => c.request_model).filter(Boolean))].join(', '),
        sum(calls, 'input_tokens'), sum(calls, 'output_tokens'), calls[0].ts];
    }), [1, 2, 4, 5]));
  const caused = summary.causes.tool_calls.filter(t => t.caused.length).length;
  main.append(note(summary.causes.tool_calls.length + ' tool calls, ' + caused + ' of them caused connections of their own (shown under each call; the Flows view\u2019s \u201ccaused by\u201d column says it per flow).'));
  if (summary.tool_calls_left_out) main.append(note(summary.tool_calls_left_out + ' more tool calls are not joined here (`phonehome llm` lists them all).'));
}

function renderConversation(main, summary, session, flow) {
  const calls = summary.conversations.filter(c => (c.session || '') === session);
  main.append(el('p', {}, el('a', { href: '#conversations' }, '\u2190 conversations')));
  main.append(el('h2', { id: 'conversation-title' }, 'Session ' + (session || NO_SESSION) + ': ' + calls.length + ' calls'));
  if (!calls.length) { main.append(note('No call of this session.')); return; }
  const system = calls.find(c => c.system_instructions.length);
  if (system) main.append(el('details', { id: 'system-prompt' }, el('summary', {}, 'system prompt'), system.system_instructions.map(part)));
  let seen = 0;
  for (const c of calls) {
    const fresh = c.input_messages.length >= seen ? c.input_messages.slice(seen) : c.input_messages;
    seen = c.input_messages.length + c.output_messages.length;
    const turn = el('div', { class: 'turn', id: 'call-' + c.flow },
      el('div', {}, el('strong', {}, c.ts + ' '), el('a', { href: '#flow-of/' + c.flow }, 'flow ' + c.flow), ' ',
        el('span', { class: 'badge' }, c.request_model || '?'), c.meta ? el('span', { class: 'badge' }, 'side call: ' + (c.meta_reason || '')) : null,
        ' ', el('span', { class: 'muted' }, timing(c))),
      fresh.map(m => message(m)), c.output_messages.map(m => message(m, c)),
      c.error ? el('div', { class: 'problem' }, 'error: ' + (c.error.status || '') + ' ' + (c.error.kind || '') + ' ' + c.error.message) : null,
      c.tool_definitions.length ? el('details', {}, el('summary', {}, c.tool_definitions.length + ' tools offered'),
        el('ul', {}, c.tool_definitions.map(t => el('li', {}, el('strong', {}, t.name), ' ', t.description || '')))) : null);
    main.append(turn);
  }
  if (flow) {
    const target = document.getElementById('call-' + flow);
    if (target) target.scrollIntoView();
  }
}

function timing(c) {
  const parts = [];
  if (c.ttft_ms !== null && c.ttft_ms !== undefined) parts.push('first token ' + c.ttft_ms + ' ms');
  if (c.duration_ms !== null && c.duration_ms !== undefined) parts.push(c.duration_ms + ' ms');
  parts.push((c.usage.input_tokens ?? '?') + ' tokens in, ' + (c.usage.output_tokens ?? '?') + ' out');
  if (c.finish_reasons.length) parts.push('finish: ' + c.finish_reasons.join(', '));
  return parts.join(' \u00b7 ');
}

function message(m, call) {
  return el('div', { class: 'msg ' + m.role }, el('span', { class: 'muted' }, m.role), m.parts.map(p => part(p, call)));
}

// What the tool call `p` of LLM call `call` caused: its processes and their connections.
function causedBy(p, call) {
  if (!call || !app.summary) return null;
  const calls = app.summary.causes.tool_calls.filter(t => t.flow === call.flow && (p.id ? t.id === p.id : t.name === p.name));
  const caused = calls.flatMap(t => t.caused);
  if (!calls.length) return null;
  if (!caused.length) return el('div', { class: 'muted caused-list' }, 'caused no connection');
  return el('ul', { class: 'caused-list' }, caused.map(c => el('li', {},
    el('a', { href: '#processes?pid=' + c.pid }, c.process + ' (pid ' + c.pid + ')'), ' \u2192 ',
    el('a', { href: '#flows?conn=' + c.conn, class: 'caused-conn' }, c.host + ':' + c.port),
    ' ', el('span', { class: 'muted' }, c.flows.length + ' requests' + (c.method === 'argv' ? '' : ', ' + (c.method === 'window' ? 'window only' : c.method))))));
}

function part(p, call) {
  switch (p.type) {
    case 'text': return pre(p.content);
    case 'reasoning': return el('details', {}, el('summary', {}, 'reasoning'), pre(p.content));
    case 'tool_call': return el('div', { class: 'toolcall' }, el('strong', {}, 'tool call ' + p.name), p.id ? el('span', { class: 'muted' }, ' ' + p.id) : null,
      pre(typeof p.arguments === 'string' ? p.arguments : JSON.stringify(p.arguments, null, 2)), causedBy(p, call));
    case 'tool_call_response': return el('div', { class: 'toolcall' }, el('strong', {}, 'tool result'), p.id ? el('span', { class: 'muted' }, ' ' + p.id) : null,
      pre(typeof p.response === 'string' ? p.response : JSON.stringify(p.response, null, 2)));
    default: return el('div', {}, el('span', { class: 'badge' }, p.kind || p.type), pre(JSON.stringify(p.value, null, 2)));
  }
}
