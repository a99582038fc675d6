import { useState } from 'preact/hooks';
import { api, withQuery, type Page } from '../api';
import type { AuditEvent } from '../model';
import { Busy, FormError, Loading, Notice, View, formatTime, useLoad, useSubmission, TableWrap, NextPage } from '../ui';

interface Verification { valid: boolean; checked: number; firstInvalidEventId?: string | null; reason?: string | null }

const OUTCOMES = ['', 'success', 'failure', 'denied'];

function csvCell(value: unknown): string {
  const text = value === null || value === undefined ? '' : String(value);
  // A leading =, +, - or @ would be a formula in a spreadsheet: neutralise it.
  const safe = /^[=+\-@]/.test(text) ? `'${text}` : text;
  return /[",\n\r]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

export function Audit() {
  const [filters, setFilters] = useState({ action: '', outcome: '', from: '', to: '' });
  const [cursor, setCursor] = useState<string | null>(null);
  const query = () => ({
    action: filters.action,
    outcome: filters.outcome,
    from: filters.from ? new Date(filters.from).toISOString() : undefined,
    to: filters.to ? new Date(filters.to).toISOString() : undefined,
  });
  const list = useLoad(() => api<Page<AuditEvent>>('GET', withQuery('/audit', { ...query(), limit: 50, cursor })), [filters.action, filters.outcome, filters.from, filters.to, cursor]);
  const verify = useSubmission();
  const exporting = useSubmission();
  const [verification, setVerification] = useState<Verification | null>(null);

  async function exportCsv() {
    await exporting.run(async () => {
      const rows: AuditEvent[] = [];
      let next: string | null = null;
      do {
        const page: Page<AuditEvent> = await api<Page<AuditEvent>>('GET', withQuery('/audit', { ...query(), limit: 100, cursor: next }));
        rows.push(...page.data);
        next = page.nextCursor;
      } while (next && rows.length < 10_000);
      const header = ['time', 'sequence', 'action', 'outcome', 'actorType', 'actorId', 'resourceType', 'resourceId', 'errorCode', 'sourceIp', 'requestId'];
      const lines = [header.join(','), ...rows.map((r) => header.map((h) => csvCell((r as unknown as Record<string, unknown>)[h])).join(','))];
      const url = URL.createObjectURL(new Blob([lines.join('\r\n') + '\r\n'], { type: 'text/csv' }));
      const link = document.createElement('a');
      link.href = url;
      link.download = `mislata-audit-${new Date().toISOString().slice(0, 19).replace(/:/g, '')}.csv`;
      document.body.append(link);
      link.click();
      link.remove();
      URL.revokeObjectURL(url);
      return true;
    });
  }

  const set = (name: keyof typeof filters) => (e: { currentTarget: HTMLInputElement | HTMLSelectElement }) => {
    setCursor(null);
    setFilters({ ...filters, [name]: e.currentTarget.value });
  };

  return (
    <View
      title="Audit trail"
      actions={
        <>
          <Busy type="button" kind="plain" busy={verify.busy} label="Verify the chain" busyLabel="Verifying…"
            onClick={async () => { const v = await verify.run(() => api<Verification>('GET', '/audit/verify')); if (v) setVerification(v); }} />
          <Busy type="button" kind="plain" busy={exporting.busy} label="Export CSV" busyLabel="Exporting…" onClick={() => void exportCsv()} />
        </>
      }
    >
      <FormError message={verify.error ?? exporting.error} />
      {verification && (verification.valid
        ? <Notice>The audit chain is intact: {verification.checked.toLocaleString()} events checked.</Notice>
        : <div class="alert alert-error" role="alert">The audit chain is broken{verification.firstInvalidEventId ? ` at event ${verification.firstInvalidEventId}` : ''}. {verification.reason ?? ''}</div>)}
      <form class="filters" role="search" aria-label="Filter events" onSubmit={(e) => e.preventDefault()}>
        <div class="field"><label for="audit-action">Action</label><input id="audit-action" type="search" placeholder="e.g. key.created" value={filters.action} onInput={set('action')} /></div>
        <div class="field">
          <label for="audit-outcome">Outcome</label>
          <select id="audit-outcome" value={filters.outcome} onChange={set('outcome')}>
            {OUTCOMES.map((o) => <option key={o} value={o}>{o || 'Any'}</option>)}
          </select>
        </div>
        <div class="field"><label for="audit-from">From</label><input id="audit-from" type="datetime-local" value={filters.from} onInput={set('from')} /></div>
        <div class="field"><label for="audit-to">To</label><input id="audit-to" type="datetime-local" value={filters.to} onInput={set('to')} /></div>
      </form>
      <FormError message={list.error} />
      {!list.data && !list.error && <Loading what="events" />}
      {list.data && list.data.data.length === 0 && <p>No events match.</p>}
      {list.data && list.data.data.length > 0 && (
        <TableWrap label="Audit events, newest first">
          <table>
            <caption class="visually-hidden">Audit events, newest first</caption>
            <thead><tr><th scope="col">Time</th><th scope="col">Action</th><th scope="col">Outcome</th><th scope="col">Actor</th><th scope="col">Resource</th><th scope="col">Source</th></tr></thead>
            <tbody>
              {list.data.data.map((e) => (
                <tr key={e.id}>
                  <td>{formatTime(e.time)}</td>
                  <th scope="row">{e.action}</th>
                  <td><span class={`badge badge-${e.outcome.toLowerCase()}`}>{e.outcome}</span>{e.errorCode ? ` (${e.errorCode})` : ''}</td>
                  <td>{e.actorType} <code>{e.actorId}</code></td>
                  <td>{e.resourceType ?? ''} <code>{e.resourceId ?? ''}</code></td>
                  <td>{e.sourceIp ?? '—'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableWrap>
      )}
      <NextPage cursor={list.data?.nextCursor} onNext={setCursor} label="Older events" />
    </View>
  );
}
