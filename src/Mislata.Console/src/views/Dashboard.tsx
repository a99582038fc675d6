import { api, type Page } from '../api';
import { hasScope } from '../auth';
import type { AuditEvent, Usage } from '../model';

interface UsagePeriod { periodStart: string; operations: number; final: boolean }

/** Operations per month as bars, with the same figures in a table for screen readers. */
function UsageChart(props: { periods: UsagePeriod[] }) {
  const max = Math.max(1, ...props.periods.map((p) => p.operations));
  const label = (p: UsagePeriod) => new Date(p.periodStart).toLocaleDateString(undefined, { month: 'short', year: '2-digit', timeZone: 'UTC' });
  const width = 100 / props.periods.length;
  return (
    <figure class="chart">
      <svg viewBox="0 0 100 50" preserveAspectRatio="none" aria-hidden="true" focusable="false">
        {props.periods.map((p, i) => {
          const h = (p.operations / max) * 46;
          return <rect key={p.periodStart} class={p.final ? 'bar' : 'bar bar-current'} x={i * width + width * 0.15} y={48 - h} width={width * 0.7} height={Math.max(h, p.operations > 0 ? 0.5 : 0)} />;
        })}
        <line class="axis" x1="0" y1="48" x2="100" y2="48" />
      </svg>
      <div class="chart-labels" aria-hidden="true">
        {props.periods.map((p) => <span key={p.periodStart}>{label(p)}</span>)}
      </div>
      <figcaption>Operations per month (the last bar is the month in progress); busiest month {max.toLocaleString()}.</figcaption>
      <table class="visually-hidden">
        <caption>Operations per month</caption>
        <thead><tr><th scope="col">Month</th><th scope="col">Operations</th></tr></thead>
        <tbody>{props.periods.map((p) => <tr key={p.periodStart}><th scope="row">{label(p)}{p.final ? '' : ' (in progress)'}</th><td>{p.operations}</td></tr>)}</tbody>
      </table>
    </figure>
  );
}
import { FormError, Loading, UsageMeter, View, formatTime, useLoad } from '../ui';

export function Dashboard() {
  const usage = useLoad(() => (hasScope('billing:read') ? api<Usage>('GET', '/billing/usage') : Promise.resolve(null)), []);
  const audit = useLoad(
    () => (hasScope('audit:read') ? api<Page<AuditEvent>>('GET', '/audit?limit=8') : Promise.resolve(null)),
    [],
  );
  const history = useLoad(
    () => (hasScope('billing:read') ? api<{ data: UsagePeriod[] }>('GET', '/billing/usage/history?months=12') : Promise.resolve(null)),
    [],
  );
  const u = usage.data;
  return (
    <View title="Dashboard">
      <div class="grid">
        <section class="card" aria-labelledby="usage-title">
          <h2 id="usage-title">Usage this period</h2>
          <FormError message={usage.error} />
          {!hasScope('billing:read') && <p>Your role does not include usage (billing:read).</p>}
          {hasScope('billing:read') && !u && !usage.error && <Loading what="usage" />}
          {u && (
            <>
              <p class="muted">
                Plan <strong>{u.plan}</strong>, {formatTime(u.periodStart)} – {formatTime(u.periodEnd)}
              </p>
              <UsageMeter label="Operations" used={u.operations.used} limit={u.operations.limit} />
              <UsageMeter label="Keys" used={u.keys.used} limit={u.keys.limit} />
              <UsageMeter label="Secrets" used={u.secrets.used} limit={u.secrets.limit} />
              <UsageMeter label="API keys" used={u.apiKeys.used} limit={u.apiKeys.limit} />
              <UsageMeter label="Users" used={u.users.used} limit={u.users.limit} />
            </>
          )}
        </section>
        {hasScope('billing:read') && (
          <section class="card" aria-labelledby="history-title">
            <h2 id="history-title">Usage over time</h2>
            <FormError message={history.error} />
            {!history.data && !history.error && <Loading what="usage history" />}
            {history.data && <UsageChart periods={history.data.data} />}
          </section>
        )}
        <section class="card" aria-labelledby="recent-title">
          <h2 id="recent-title">Recent activity</h2>
          <FormError message={audit.error} />
          {!hasScope('audit:read') && <p>Your role does not include the audit trail (audit:read).</p>}
          {hasScope('audit:read') && !audit.data && !audit.error && <Loading what="recent events" />}
          {audit.data && audit.data.data.length === 0 && <p>No events yet.</p>}
          {audit.data && audit.data.data.length > 0 && (
            <ul class="events">
              {audit.data.data.map((e) => (
                <li key={e.id}>
                  <span class={`badge badge-${e.outcome.toLowerCase()}`}>{e.outcome}</span> <strong>{e.action}</strong>{' '}
                  <span class="muted">{formatTime(e.time)}</span>
                </li>
              ))}
            </ul>
          )}
          {hasScope('audit:read') && <a href="/console/audit">All events</a>}
        </section>
      </div>
    </View>
  );
}
