import { useState } from 'preact/hooks';
import { api, withQuery, type Page } from '../api';
import { Busy, Field, FormError, Loading, Notice, View, formatTime, useLoad, useSubmission, TableWrap, NextPage } from '../ui';

interface Plan {
  id: string; code: string; name: string; maxKeys: number | null; maxSecrets: number | null; maxApiKeys: number | null; maxUsers: number | null;
  operationsPerMonth: number | null; requestsPerMinute: number | null; features: string[]; availableToPartners: boolean;
}

interface Partner { id: string; name: string; contactEmail?: string | null; maxTenants?: number | null; createdAt: string }

const LIMITS: { field: keyof Plan; label: string }[] = [
  { field: 'maxKeys', label: 'Keys' },
  { field: 'maxSecrets', label: 'Secrets' },
  { field: 'maxApiKeys', label: 'API keys' },
  { field: 'maxUsers', label: 'Users' },
  { field: 'operationsPerMonth', label: 'Operations a month' },
  { field: 'requestsPerMinute', label: 'Requests a minute' },
];

const show = (value: unknown) => (value === null || value === undefined ? 'unlimited' : Number(value).toLocaleString());

/** Plans: their quotas (empty = unlimited); a new plan; whether partners may sell it. */
export function Plans() {
  const plans = useLoad(() => api<Page<Plan>>('GET', '/admin/plans'), []);
  const [form, setForm] = useState<Record<string, string>>({ code: '', name: '' });
  const [partners, setPartners] = useState(false);
  const [notice, setNotice] = useState<string | null>(null);
  const create = useSubmission();
  const number = (name: string) => (form[name] ? Number(form[name]) : undefined);
  return (
    <View title="Plans">
      {notice && <Notice>{notice}</Notice>}
      <FormError message={plans.error} />
      {!plans.data && !plans.error && <Loading what="plans" />}
      {plans.data && (
        <TableWrap label="Plans and their quotas">
          <table>
            <caption class="visually-hidden">Plans and their quotas</caption>
            <thead><tr><th scope="col">Plan</th>{LIMITS.map((l) => <th key={l.field} scope="col">{l.label}</th>)}<th scope="col">Partners</th></tr></thead>
            <tbody>
              {plans.data.data.map((p) => (
                <tr key={p.id}>
                  <th scope="row">{p.name} <code>{p.code}</code></th>
                  {LIMITS.map((l) => <td key={l.field}>{show(p[l.field])}</td>)}
                  <td>{p.availableToPartners ? 'yes' : 'no'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableWrap>
      )}
      <form
        class="form"
        noValidate
        onSubmit={async (e) => {
          e.preventDefault();
          const plan = await create.run(() => api<Plan>('POST', '/admin/plans', {
            code: form.code, name: form.name, maxKeys: number('maxKeys'), maxSecrets: number('maxSecrets'), maxApiKeys: number('maxApiKeys'),
            maxUsers: number('maxUsers'), operationsPerMonth: number('operationsPerMonth'), requestsPerMinute: number('requestsPerMinute'),
            availableToPartners: partners,
          }));
          if (plan) { setNotice(`Plan ${plan.name} created.`); setForm({ code: '', name: '' }); plans.reload(); }
        }}
      >
        <h2>New plan</h2>
        <FormError message={create.error} />
        <Field id="plan-code" errorKey="code" label="Code" hint="Lower-case letters, digits and dashes, e.g. team-2027." errors={create.fields}>
          {(d, invalid) => <input id="plan-code" value={form.code} aria-describedby={d} aria-invalid={invalid} onInput={(e) => setForm({ ...form, code: e.currentTarget.value })} />}
        </Field>
        <Field id="plan-name" errorKey="name" label="Name" errors={create.fields}>
          {(d, invalid) => <input id="plan-name" value={form.name} aria-describedby={d} aria-invalid={invalid} onInput={(e) => setForm({ ...form, name: e.currentTarget.value })} />}
        </Field>
        {LIMITS.map((l) => (
          <Field key={l.field} id={`plan-${l.field}`} errorKey={l.field} label={`${l.label} (empty = unlimited)`} errors={create.fields}>
            {(d, invalid) => <input id={`plan-${l.field}`} type="number" min={0} inputMode="numeric" value={form[l.field] ?? ''} aria-describedby={d} aria-invalid={invalid} onInput={(e) => setForm({ ...form, [l.field]: e.currentTarget.value })} />}
          </Field>
        ))}
        <div class="field field-check">
          <input id="plan-partners" type="checkbox" checked={partners} onChange={(e) => setPartners(e.currentTarget.checked)} />
          <label for="plan-partners">Partners may put their tenants on this plan</label>
        </div>
        <div class="form-actions"><Busy busy={create.busy} label="Create plan" busyLabel="Creating…" /></div>
      </form>
    </View>
  );
}

/** Partners (resellers, managed-service providers) and how many tenants each may create. */
export function Partners() {
  const [cursor, setCursor] = useState<string | null>(null);
  const list = useLoad(() => api<Page<Partner>>('GET', withQuery('/admin/partners', { limit: 50, cursor })), [cursor]);
  const [name, setName] = useState('');
  const [email, setEmail] = useState('');
  const [max, setMax] = useState('');
  const [notice, setNotice] = useState<string | null>(null);
  const create = useSubmission();
  return (
    <View title="Partners">
      {notice && <Notice>{notice}</Notice>}
      <form
        class="form"
        noValidate
        onSubmit={async (e) => {
          e.preventDefault();
          const partner = await create.run(() => api<Partner>('POST', '/admin/partners', { name, contactEmail: email || undefined, maxTenants: max ? Number(max) : undefined }));
          if (partner) { setNotice(`Partner ${partner.name} created.`); setName(''); setEmail(''); setMax(''); list.reload(); }
        }}
      >
        <h2>New partner</h2>
        <FormError message={create.error} />
        <Field id="partner-name" errorKey="name" label="Name" errors={create.fields}>
          {(d, invalid) => <input id="partner-name" value={name} aria-describedby={d} aria-invalid={invalid} onInput={(e) => setName(e.currentTarget.value)} />}
        </Field>
        <Field id="partner-email" errorKey="contactEmail" label="Contact email (optional)" errors={create.fields}>
          {(d, invalid) => <input id="partner-email" type="email" value={email} aria-describedby={d} aria-invalid={invalid} onInput={(e) => setEmail(e.currentTarget.value)} />}
        </Field>
        <Field id="partner-max" errorKey="maxTenants" label="Tenants it may create (empty = unlimited)" errors={create.fields}>
          {(d, invalid) => <input id="partner-max" type="number" min={0} value={max} aria-describedby={d} aria-invalid={invalid} onInput={(e) => setMax(e.currentTarget.value)} />}
        </Field>
        <div class="form-actions"><Busy busy={create.busy} label="Create partner" busyLabel="Creating…" /></div>
      </form>
      <h2>All partners</h2>
      <FormError message={list.error} />
      {!list.data && !list.error && <Loading what="partners" />}
      {list.data && list.data.data.length === 0 && <p>No partners yet.</p>}
      {list.data && list.data.data.length > 0 && (
        <TableWrap label="Partners">
          <table>
            <caption class="visually-hidden">Partners</caption>
            <thead><tr><th scope="col">Name</th><th scope="col">Contact</th><th scope="col">Tenant limit</th><th scope="col">Created</th></tr></thead>
            <tbody>
              {list.data.data.map((p) => (
                <tr key={p.id}><th scope="row">{p.name}</th><td>{p.contactEmail ?? '—'}</td><td>{show(p.maxTenants)}</td><td>{formatTime(p.createdAt)}</td></tr>
              ))}
            </tbody>
          </table>
        </TableWrap>
      )}
      <NextPage cursor={list.data?.nextCursor} onNext={setCursor} />
    </View>
  );
}
