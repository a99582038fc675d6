import { api, type Page } from '../api';
import { hasScope } from '../auth';
import type { AuditEvent, Usage } from '../model';
import { FormError, Loading, UsageMeter, View, formatTime, useLoad } from '../ui';

export function Dashboard() {
  const usage = useLoad(() => (hasScope('billing:read') ? api<Usage>('GET', '/billing/usage') : Promise.resolve(null)), []);
  const audit = useLoad(
    () => (hasScope('audit:read') ? api<Page<AuditEvent>>('GET', '/audit?limit=8') : Promise.resolve(null)),
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
