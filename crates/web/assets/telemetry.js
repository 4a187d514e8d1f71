// Telemetry: what `phonehome telemetry` shows, from the report's `telemetry` array (decoded
// once, by the analysis): per host, the protocols, events with counts and first/last times,
// attributes with a sample value, who sent them, and the persistent identifiers.
// `#telemetry?host=H` shows one host.
'use strict';

function renderTelemetry(main, summary, filter) {
  const all = summary.report.telemetry || [];
  if (!all.length) { main.append(note('No telemetry or persistent identifier found.')); return; }
  const hosts = filter.host ? all.filter(h => h.host === filter.host) : all;
  if (filter.host) main.append(el('p', {}, el('a', { href: '#telemetry' }, '\u2190 every host')));
  main.append(table(['host', 'requests', 'protocols', 'events', 'identifiers'], all.map(h => [
    el('a', { href: '#telemetry?host=' + encodeURIComponent(h.host), class: 'telemetry-link' }, h.host), h.requests,
    protocols(h), h.events, h.identifiers.length + h.more_identifiers]), [1, 3, 4]));
  for (const h of hosts) main.append(telemetryHost(h));
}

function protocols(h) {
  return h.protocols.map(p => p.protocol + ' ' + p.signal + ' \u00d7' + p.requests).join(', ');
}

function sender(r) {
  const parts = [];
  if (r.service) parts.push(r.service + (r.version ? ' ' + r.version : ''));
  else if (r.version) parts.push('version ' + r.version);
  if (r.os) parts.push('os ' + r.os);
  if (r.runtime) parts.push('runtime ' + r.runtime);
  return parts.join(' \u00b7 ');
}

function more(n, what) {
  return n ? note(n + ' more ' + what + ' not listed (phonehome telemetry --json counts them too).') : '';
}

function telemetryHost(h) {
  const box = el('section', { class: 'telemetry-host', id: 'telemetry-' + h.host });
  box.append(el('h2', {}, el('a', { href: '#flows?host=' + encodeURIComponent(h.host), title: 'its flows' }, h.host), ' ',
    el('span', { class: 'muted' }, h.requests ? h.requests + ' telemetry request' + (h.requests === 1 ? '' : 's') + ' (' + protocols(h) + ')'
      : 'no telemetry decoded; identifiers in its requests')));
  box.append(kv([['sent by', sender(h.resource)], ['events', h.events ? h.events + (h.first ? ', ' + h.first + ' \u2026 ' + (h.last || '') : '') : '']]));
  if (h.resource.attributes.length) {
    box.append(el('h3', {}, 'resource'));
    box.append(table(['attribute', 'sample'], h.resource.attributes.map(a => [a.name, el('code', {}, withRedactions(a.sample))])));
  }
  if (h.event_names.length) {
    box.append(el('h3', {}, 'events'));
    box.append(table(['event', 'count', 'first', 'last'], h.event_names.map(e => [el('span', { class: 'event-name' }, e.name), e.count, e.first || '', e.last || '']), [1]));
    box.append(more(h.more_event_names, 'event names (' + h.more_events + ' events)'));
  }
  if (h.attributes.length) {
    box.append(el('h3', {}, 'attributes'));
    box.append(table(['attribute', 'sample value'], h.attributes.map(a => [a.name, el('code', {}, withRedactions(a.sample))])));
    box.append(more(h.more_attributes, 'attributes'));
  }
  if (h.identifiers.length) {
    box.append(el('h3', {}, 'identifiers (persistent: they follow you across runs)'));
    box.append(table(['name', 'value', 'found by', 'source', 'requests'], h.identifiers.map(i =>
      [el('span', { class: 'identifier' }, i.name), el('code', {}, withRedactions(i.value)), i.found_by, i.source, i.requests]), [4]));
    box.append(more(h.more_identifiers, 'identifiers'));
  }
  if (h.notes.length) {
    box.append(el('h3', {}, 'what the decoders could not read'));
    box.append(el('ul', {}, h.notes.map(n => el('li', {}, n))));
    box.append(more(h.more_notes, 'notes'));
  }
  return box;
}
