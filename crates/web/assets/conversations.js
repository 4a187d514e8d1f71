// Conversations: the LLM calls grouped by the agent's session; a session opened shows its
// turns (system prompt, new messages, tool calls and their results, tokens, timings).
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
  main.append(note('Which processes and connections each tool call caused is not available in this build.'));
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
      fresh.map(message), c.output_messages.map(message),
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

function message(m) {
  return el('div', { class: 'msg ' + m.role }, el('span', { class: 'muted' }, m.role), m.parts.map(part));
}

function part(p) {
  switch (p.type) {
    case 'text': return pre(p.content);
    case 'reasoning': return el('details', {}, el('summary', {}, 'reasoning'), pre(p.content));
    case 'tool_call': return el('div', { class: 'toolcall' }, el('strong', {}, 'tool call ' + p.name), p.id ? el('span', { class: 'muted' }, ' ' + p.id) : null,
      pre(typeof p.arguments === 'string' ? p.arguments : JSON.stringify(p.arguments, null, 2)));
    case 'tool_call_response': return el('div', { class: 'toolcall' }, el('strong', {}, 'tool result'), p.id ? el('span', { class: 'muted' }, ' ' + p.id) : null,
      pre(typeof p.response === 'string' ? p.response : JSON.stringify(p.response, null, 2)));
    default: return el('div', {}, el('span', { class: 'badge' }, p.kind || p.type), pre(JSON.stringify(p.value, null, 2)));
  }
}
