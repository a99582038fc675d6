import { useEffect, useState } from 'preact/hooks';
import { api, withQuery, type Page } from '../api';
import { Busy, Field, FormError, Loading, Notice, StateBadge, UsageMeter, View, formatTime, useLoad, useSubmission, TableWrap, NextPage } from '../ui';

interface Tenant { id: string; name: string; status: string; planId: string; partnerId?: string | null; adminEmail?: string | null; createdAt: string; suspendedAt?: string | null }
interface Plan { id: string; code: string; name: string; operationsPerMonth?: number | null; maxKeys?: number | null; requestsPerMinute?: number | null }
interface LicenceFigure { used: number; limit: number | null }
interface Licence {
  state: string; reason?: string | null; restricted: boolean;
  license?: { licensee: string; edition: string; expiresAt: string; graceEndsAt: string } | null;
  usage: { tenants: LicenceFigure; users: LicenceFigure; keys: LicenceFigure };
}

export function Tenants() {
  const [cursor, setCursor] = useState<string | null>(null);
  const [search, setSearch] = useState('');
  const list = useLoad(() => api<Page<Tenant>>('GET', withQuery('/admin/tenants', { limit: 50, cursor, name: search })), [cursor, search]);
  const plans = useLoad(() => api<Page<Plan> | Plan[]>('GET', '/admin/plans?limit=100'), []);
  const planList = Array.isArray(plans.data) ? plans.data : (plans.data?.data ?? []);
  const [name, setName] = useState('');
  const [planId, setPlanId] = useState('');
  const [adminEmail, setAdminEmail] = useState('');
  const [notice, setNotice] = useState<string | null>(null);
  const create = useSubmission();
  const action = useSubmission();

  async function setStatus(tenant: Tenant, suspend: boolean) {
    const done = await action.run(async () => { await api('POST', `/admin/tenants/${tenant.id}/${suspend ? 'suspend' : 'reactivate'}`); return true; });
    if (done) { setNotice(`${tenant.name} is ${suspend ? 'suspended: its credentials are refused' : 'active again'}.`); list.reload(); }
  }

  return (
    <View title="Tenants">
      {notice && <Notice>{notice}</Notice>}
      <form
        class="form"
        noValidate
        onSubmit={async (e) => {
          e.preventDefault();
          const tenant = await create.run(() => api<Tenant>('POST', '/admin/tenants', { name, planId: planId || undefined, adminEmail: adminEmail || undefined }));
          if (tenant) { setNotice(`Tenant ${tenant.name} created.`); setName(''); setAdminEmail(''); setCursor(null); setSearch(tenant.name); list.reload(); }
        }}
      >
        <h2>Create a tenant</h2>
        <FormError message={create.error} />
        <Field id="tenant-name" errorKey="name" label="Name" errors={create.fields}>
          {(d, invalid) => <input id="tenant-name" value={name} aria-describedby={d} aria-invalid={invalid} onInput={(e) => setName(e.currentTarget.value)} />}
        </Field>
        <Field id="tenant-plan" errorKey="planId" label="Plan" errors={create.fields}>
          {(d) => (
            <select id="tenant-plan" value={planId} aria-describedby={d} onChange={(e) => setPlanId(e.currentTarget.value)}>
              <option value="">Default plan</option>
              {planList.map((p) => <option key={p.id} value={p.id}>{p.name} ({p.code})</option>)}
            </select>
          )}
        </Field>
        <Field id="tenant-admin" errorKey="adminEmail" label="Administrator's email (optional)" errors={create.fields}>
          {(d, invalid) => <input id="tenant-admin" type="email" value={adminEmail} aria-describedby={d} aria-invalid={invalid} onInput={(e) => setAdminEmail(e.currentTarget.value)} />}
        </Field>
        <div class="form-actions"><Busy busy={create.busy} label="Create tenant" busyLabel="Creating…" /></div>
      </form>
      <h2>All tenants</h2>
      <form class="filters" role="search" aria-label="Find tenants" onSubmit={(e) => e.preventDefault()}>
        <div class="field">
          <label for="tenant-search">Name starts with</label>
          <input id="tenant-search" type="search" value={search} onInput={(e) => { setCursor(null); setSearch(e.currentTarget.value); }} />
        </div>
      </form>
      <FormError message={list.error ?? action.error} />
      {!list.data && !list.error && <Loading what="tenants" />}
      {list.data && list.data.data.length === 0 && <p>{search ? 'No tenant name starts with that.' : 'No tenants yet.'}</p>}
      {list.data && list.data.data.length > 0 && (
        <TableWrap label="Tenants of this installation">
          <table>
            <caption class="visually-hidden">Tenants of this installation</caption>
            <thead><tr><th scope="col">Name</th><th scope="col">Status</th><th scope="col">Plan</th><th scope="col">Created</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr></thead>
            <tbody>
              {list.data.data.map((t) => (
                <tr key={t.id}>
                  <th scope="row">{t.name}</th>
                  <td><StateBadge state={t.status} /></td>
                  <td>
                    <label class="visually-hidden" for={`plan-of-${t.id}`}>Plan of {t.name}</label>
                    <select
                      id={`plan-of-${t.id}`}
                      value={t.planId}
                      onChange={async (e) => {
                        const planId = e.currentTarget.value;
                        const done = await action.run(async () => { await api('PATCH', `/admin/tenants/${t.id}`, { planId }); return true; });
                        if (done) { setNotice(`${t.name} is now on ${planList.find((p) => p.id === planId)?.name ?? 'the new plan'}.`); list.reload(); }
                      }}
                    >
                      {planList.map((p) => <option key={p.id} value={p.id}>{p.name}</option>)}
                    </select>
                  </td>
                  <td>{formatTime(t.createdAt)}</td>
                  <td>
                    {t.status === 'active'
                      ? <button type="button" class="btn btn-danger btn-small" aria-label={`Suspend ${t.name}`} onClick={() => setStatus(t, true)}>Suspend</button>
                      : <button type="button" class="btn btn-plain btn-small" aria-label={`Reactivate ${t.name}`} onClick={() => setStatus(t, false)}>Reactivate</button>}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableWrap>
      )}
      <NextPage cursor={list.data?.nextCursor} onNext={setCursor} />
    </View>
  );
}

interface HealthCheck { status: string; description?: string | null }
interface ServiceHealth { service: string; status: string; checks: Record<string, HealthCheck> }

/** The services' readiness through the gateway (/health/{service}): each check, entropy included, with its detail. */
async function loadHealth(): Promise<ServiceHealth[]> {
  return Promise.all(['identity', 'api', 'worker'].map(async (service) => {
    try {
      const response = await fetch(`/health/${service}`, { credentials: 'omit', cache: 'no-store' });
      const body = (await response.json().catch(() => null)) as { status?: string; checks?: Record<string, HealthCheck> } | null;
      return { service, status: body?.status ?? `HTTP ${response.status}`, checks: body?.checks ?? {} };
    } catch {
      return { service, status: 'Unreachable', checks: {} };
    }
  }));
}

interface AdminJob { id: string; kind: string; state: string; total: number; done: number; createdAt: string; startedAt?: string | null; finishedAt?: string | null; error?: string | null }

/** The latest master-key rotation and its progress (polled while it runs); starting one after a confirmation. */
function MasterKeyRotation() {
  const latest = useLoad(() => api<{ data: AdminJob[] }>('GET', '/admin/jobs?kind=master-key-rotation&limit=1'), []);
  const [confirming, setConfirming] = useState(false);
  const start = useSubmission();
  const job = latest.data?.data[0];
  const running = job?.state === 'queued' || job?.state === 'running';
  useEffect(() => {
    if (!running) return undefined;
    const timer = window.setTimeout(() => latest.reload(), 2000);
    return () => window.clearTimeout(timer);
  }, [running, job?.done, job?.state]);
  return (
    <section class="card" aria-labelledby="master-key-title">
      <h2 id="master-key-title">Master key</h2>
      <FormError message={latest.error ?? start.error} />
      {!latest.data && !latest.error && <Loading what="the last rotation" />}
      {latest.data && !job && <p>The master key has never been rotated on this installation.</p>}
      {job && (
        <>
          <p>Last rotation: <StateBadge state={job.state} /> requested {formatTime(job.createdAt)}{job.finishedAt ? `, finished ${formatTime(job.finishedAt)}` : ''}.</p>
          {job.total > 0 && <UsageMeter label="Keys moved to the new master key" used={job.done} limit={job.total} />}
          {job.error && <p class="field-error">{job.error}</p>}
          {running && <p role="status">The platform keeps serving while the keys are rewrapped; this page follows the progress.</p>}
          {job.state === 'succeeded' && <p>Every key is wrapped by the current master key: the previous one (QAPI_MASTER_KEY_PREVIOUS) can be removed.</p>}
        </>
      )}
      {!running && !confirming && <button type="button" class="btn btn-plain" onClick={() => setConfirming(true)}>Rotate the master key…</button>}
      {!running && confirming && (
        <div class="confirm" role="group" aria-label="Confirm the master-key rotation">
          <p>
            Before this, every service must run with the new key as QAPI_MASTER_KEY and the old one as QAPI_MASTER_KEY_PREVIOUS.
            The rotation rewraps the platform key and every tenant's data key; traffic is served throughout.
          </p>
          <Busy type="button" busy={start.busy} label="Start the rotation" busyLabel="Starting…"
            onClick={async () => {
              const started = await start.run(() => api<{ jobId: string }>('POST', '/admin/master-key/rotate'));
              setConfirming(false);
              if (started) latest.reload();
            }} />
          <button type="button" class="btn btn-plain" onClick={() => setConfirming(false)}>Cancel</button>
        </div>
      )}
    </section>
  );
}

export function Platform() {
  const licence = useLoad(() => api<Licence>('GET', '/admin/license'), []);
  const health = useLoad(loadHealth, []);
  const l = licence.data;
  return (
    <View title="Platform" actions={<button type="button" class="btn btn-plain" onClick={() => health.reload()}>Refresh health</button>}>
      <section class="card" aria-labelledby="health-title">
        <h2 id="health-title">Services</h2>
        {!health.data && <Loading what="service health" />}
        {health.data && (
          <TableWrap label="Readiness of each service">
            <table>
              <thead><tr><th scope="col">Service</th><th scope="col">Check</th><th scope="col">Status</th><th scope="col">Detail</th></tr></thead>
              <tbody>
                {health.data.flatMap((s) => {
                  const entries = Object.entries(s.checks);
                  return entries.length === 0
                    ? [<tr key={s.service}><th scope="row">{s.service}</th><td>—</td><td><StateBadge state={s.status} /></td><td /></tr>]
                    : entries.map(([name, check]) => (
                      <tr key={`${s.service}-${name}`}><th scope="row">{s.service}</th><td>{name}</td><td><StateBadge state={check.status} /></td><td>{check.description ?? ''}</td></tr>
                    ));
                })}
              </tbody>
            </table>
          </TableWrap>
        )}
      </section>
      <section class="card" aria-labelledby="licence-title">
        <h2 id="licence-title">Licence</h2>
        <FormError message={licence.error} />
        {!l && !licence.error && <Loading what="the licence" />}
        {l && (
          <>
            <p>State: <StateBadge state={l.state} />{l.reason ? ` — ${l.reason}` : ''}</p>
            {l.license && <p>{l.license.licensee}, {l.license.edition} edition, valid until {formatTime(l.license.expiresAt)} (grace until {formatTime(l.license.graceEndsAt)}).</p>}
            <UsageMeter label="Tenants" used={l.usage.tenants.used} limit={l.usage.tenants.limit} />
            <UsageMeter label="Users" used={l.usage.users.used} limit={l.usage.users.limit} />
            <UsageMeter label="Keys" used={l.usage.keys.used} limit={l.usage.keys.limit} />
          </>
        )}
      </section>
      <MasterKeyRotation />
      <p><a href="/jobs/">Background jobs dashboard</a> (opens the worker's dashboard).</p>
    </View>
  );
}
