import type { TraceEvent } from '@psi/core';

/** Formats PSI's audit events as one readable line each, for the demos. */
export function formatTrace(event: TraceEvent, startedAt: number): string {
  const d = event.detail ?? {};
  const at = `+${String(event.at - startedAt).padStart(4)} ms`;
  const text = describeEvent(event.kind, d);
  return `${at}  ${event.kind.padEnd(13)} ${text}`;
}

function describeEvent(kind: TraceEvent['kind'], d: Record<string, unknown>): string {
  switch (kind) {
    case 'invoked':
      return `step "${str(d.step)}" → adapter ${str(d.adapter)} (service ${str(d.service)})`;
    case 'sent':
      return `${str(d.service)}.${str(d.operation)} via ${str(d.transport)} ${json(d.payload)} (answer: ${str(d.answer)})`;
    case 'completed':
      return `step "${str(d.step)}" done${d.transition ? `, transition "${str(d.transition)}"` : ''}, wrote ${json(d.variables)}${Number(d.expecting) > 0 ? `, expecting ${str(d.expecting)} answer(s)` : ''}`;
    case 'received':
      return `"${str(d.event)}" from ${str(d.source)}`;
    case 'parked':
      return `"${str(d.event)}" parked: instance not yet at "${str(d.waitingFor)}"`;
    case 'released':
      return `"${str(d.event)}" released after ${str(d.parkedFor)} ms: instance reached "${str(d.waitState)}"`;
    case 'delivered':
      return `"${str(d.event)}" delivered at "${str(d.waitState)}", transition "${str(d.transition ?? 'default')}", wrote ${json(d.variables)}`;
    case 'dead-lettered':
      return `"${str(d.event)}" dead-lettered (${str(d.reason)})`;
    default:
      return json(d);
  }
}

function str(value: unknown): string {
  return value === undefined || value === null ? '' : String(value);
}

function json(value: unknown): string {
  return value === undefined ? '{}' : JSON.stringify(value);
}
