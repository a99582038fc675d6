import { useState } from 'preact/hooks';
import { api, withQuery, type Page } from '../api';
import { hasScope } from '../auth';
import { ALGORITHMS, type Key } from '../model';
import { navigate } from '../router';
import { Busy, Field, FormError, Loading, StateBadge, View, formatTime, useLoad, useSubmission, TableWrap, NextPage } from '../ui';

const STATES = ['enabled', 'disabled', 'pendingDeletion', 'destroyed'];

export function KeyList() {
  const [filters, setFilters] = useState({ name: '', algorithm: '', state: '' });
  const [cursor, setCursor] = useState<string | null>(null);
  const list = useLoad(
    () => api<Page<Key>>('GET', withQuery('/keys', { ...filters, limit: 50, cursor })),
    [filters.name, filters.algorithm, filters.state, cursor],
  );
  return (
    <View title="Keys" actions={hasScope('keys:write') ? <a class="btn btn-primary" href="/console/keys/new">Create key</a> : undefined}>
      <form class="filters" role="search" aria-label="Filter keys" onSubmit={(e) => e.preventDefault()}>
        <div class="field">
          <label for="filter-name">Name</label>
          <input id="filter-name" type="search" value={filters.name} onInput={(e) => { setCursor(null); setFilters({ ...filters, name: e.currentTarget.value }); }} />
        </div>
        <div class="field">
          <label for="filter-algorithm">Algorithm</label>
          <select id="filter-algorithm" value={filters.algorithm} onChange={(e) => { setCursor(null); setFilters({ ...filters, algorithm: e.currentTarget.value }); }}>
            <option value="">Any</option>
            {ALGORITHMS.map((a) => <option key={a.name} value={a.name}>{a.name}</option>)}
          </select>
        </div>
        <div class="field">
          <label for="filter-state">State</label>
          <select id="filter-state" value={filters.state} onChange={(e) => { setCursor(null); setFilters({ ...filters, state: e.currentTarget.value }); }}>
            <option value="">Any</option>
            {STATES.map((s) => <option key={s} value={s}>{s}</option>)}
          </select>
        </div>
      </form>
      <FormError message={list.error} />
      {!list.data && !list.error && <Loading what="keys" />}
      {list.data && list.data.data.length === 0 && <p>No keys match.</p>}
      {list.data && list.data.data.length > 0 && (
        <TableWrap label="Keys of your tenant">
          <table>
            <caption class="visually-hidden">Keys of your tenant</caption>
            <thead>
              <tr><th scope="col">Name</th><th scope="col">Algorithm</th><th scope="col">State</th><th scope="col">Version</th><th scope="col">Created</th></tr>
            </thead>
            <tbody>
              {list.data.data.map((k) => (
                <tr key={k.id}>
                  <th scope="row"><a href={`/console/keys/${k.id}`}>{k.name}</a>{k.isDefault && <span class="badge">default</span>}</th>
                  <td>{k.algorithm}</td>
                  <td><StateBadge state={k.state} /></td>
                  <td>{k.currentVersion}</td>
                  <td>{formatTime(k.createdAt)}</td>
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

export function KeyCreate() {
  const [name, setName] = useState('');
  const [algorithm, setAlgorithm] = useState('ML-KEM-768');
  const [type, setType] = useState('');
  const [description, setDescription] = useState('');
  const [rotation, setRotation] = useState('');
  const [isDefault, setIsDefault] = useState(false);
  const submission = useSubmission();
  const chosen = ALGORITHMS.find((a) => a.name === algorithm);
  const isRsa = algorithm.startsWith('RSA-');
  return (
    <View title="Create a key">
      <form
        class="form"
        noValidate
        onSubmit={async (e) => {
          e.preventDefault();
          const key = await submission.run(() =>
            api<Key>('POST', '/keys', {
              name,
              algorithm,
              type: isRsa && type ? type : undefined,
              description: description || undefined,
              rotationPeriodDays: rotation ? Number(rotation) : undefined,
              isDefault: isDefault || undefined,
            }),
          );
          if (key) navigate(`/keys/${key.id}`);
        }}
      >
        <FormError message={submission.error} />
        <Field id="name" label="Name" hint="Unique in your tenant; letters, digits, dots, dashes and underscores." errors={submission.fields}>
          {(d, invalid) => <input id="name" required value={name} aria-describedby={d} aria-invalid={invalid} onInput={(e) => setName(e.currentTarget.value)} />}
        </Field>
        <Field id="algorithm" label="Algorithm" hint={chosen?.explain} errors={submission.fields}>
          {(d, invalid) => (
            <select id="algorithm" value={algorithm} aria-describedby={d} aria-invalid={invalid} onChange={(e) => setAlgorithm(e.currentTarget.value)}>
              {ALGORITHMS.map((a) => <option key={a.name} value={a.name}>{a.name} ({a.kind})</option>)}
            </select>
          )}
        </Field>
        {isRsa && (
          <Field id="type" label="Use" hint="An RSA key either encrypts (OAEP) or signs (PSS)." errors={submission.fields}>
            {(d) => (
              <select id="type" value={type} aria-describedby={d} onChange={(e) => setType(e.currentTarget.value)}>
                <option value="">Encryption</option>
                <option value="signing">Signing</option>
              </select>
            )}
          </Field>
        )}
        <Field id="description" label="Description (optional)" errors={submission.fields}>
          {(d, invalid) => <textarea id="description" rows={2} value={description} aria-describedby={d} aria-invalid={invalid} onInput={(e) => setDescription(e.currentTarget.value)} />}
        </Field>
        <Field id="rotationPeriodDays" label="Rotate automatically every (days, optional)" errors={submission.fields}>
          {(d, invalid) => <input id="rotationPeriodDays" type="number" min={1} inputMode="numeric" value={rotation} aria-describedby={d} aria-invalid={invalid} onInput={(e) => setRotation(e.currentTarget.value)} />}
        </Field>
        <div class="field field-check">
          <input id="isDefault" type="checkbox" checked={isDefault} onChange={(e) => setIsDefault(e.currentTarget.checked)} />
          <label for="isDefault">Make it the tenant's default key for its kind</label>
        </div>
        <div class="form-actions">
          <Busy busy={submission.busy} label="Create key" busyLabel="Creating the key…" />
          <a class="btn btn-plain" href="/console/keys">Cancel</a>
        </div>
      </form>
    </View>
  );
}

export function KeyDetail(props: { id: string }) {
  const key = useLoad(() => api<Key>('GET', `/keys/${encodeURIComponent(props.id)}`), [props.id]);
  const action = useSubmission();
  const [publicKey, setPublicKey] = useState<string | null>(null);
  const [pendingDays, setPendingDays] = useState('7');
  const [confirmDelete, setConfirmDelete] = useState(false);
  const k = key.data;
  const write = hasScope('keys:write');

  async function act(path: string, method = 'POST') {
    const done = await action.run(async () => {
      await api<unknown>(method, path);
      return true;
    });
    if (done) key.reload();
  }

  return (
    <View title={k ? `Key ${k.name}` : 'Key'}>
      <FormError message={key.error ?? action.error} />
      {!k && !key.error && <Loading what="the key" />}
      {k && (
        <>
          <dl class="facts">
            <dt>Id</dt><dd><code>{k.id}</code></dd>
            <dt>Algorithm</dt><dd>{k.algorithm} ({k.type})</dd>
            <dt>State</dt><dd><StateBadge state={k.state} /></dd>
            <dt>Current version</dt><dd>{k.currentVersion} (decrypts from version {k.minDecryptionVersion})</dd>
            <dt>Operations</dt><dd>{(k.operations ?? []).join(', ') || '—'}</dd>
            <dt>Rotation</dt><dd>{k.rotationPeriodDays ? `every ${k.rotationPeriodDays} days, next ${formatTime(k.nextRotationAt)}` : 'manual'}</dd>
            {k.deletionDate && (<><dt>Destroyed on</dt><dd>{formatTime(k.deletionDate)}</dd></>)}
            <dt>Created</dt><dd>{formatTime(k.createdAt)}</dd>
          </dl>
          {write && k.state !== 'destroyed' && (
            <div class="toolbar" role="group" aria-label="Key actions">
              {k.state === 'enabled' && <Busy type="button" kind="plain" busy={action.busy} label="Rotate" busyLabel="Rotating…" onClick={() => act(`/keys/${k.id}/rotate`)} />}
              {k.state === 'enabled' && <Busy type="button" kind="plain" busy={action.busy} label="Disable" busyLabel="Working…" onClick={() => act(`/keys/${k.id}/disable`)} />}
              {k.state === 'disabled' && <Busy type="button" kind="plain" busy={action.busy} label="Enable" busyLabel="Working…" onClick={() => act(`/keys/${k.id}/enable`)} />}
              {k.state === 'pendingDeletion' && <Busy type="button" kind="plain" busy={action.busy} label="Restore" busyLabel="Working…" onClick={() => act(`/keys/${k.id}/restore`)} />}
              {k.state !== 'pendingDeletion' && !confirmDelete && (
                <button type="button" class="btn btn-danger" onClick={() => setConfirmDelete(true)}>Schedule deletion…</button>
              )}
            </div>
          )}
          {confirmDelete && (
            <form
              class="form confirm"
              aria-label="Confirm the deletion"
              onSubmit={async (e) => {
                e.preventDefault();
                await act(`/keys/${k.id}?pendingDays=${encodeURIComponent(pendingDays)}`, 'DELETE');
                setConfirmDelete(false);
              }}
            >
              <p>After the waiting period the key material is destroyed and every payload of this key can no longer be decrypted. Until then the deletion can be cancelled.</p>
              <Field id="pendingDays" label="Waiting period (7 to 30 days)" errors={action.fields}>
                {(d, invalid) => <input id="pendingDays" type="number" min={7} max={30} value={pendingDays} aria-describedby={d} aria-invalid={invalid} onInput={(e) => setPendingDays(e.currentTarget.value)} />}
              </Field>
              <div class="form-actions">
                <Busy kind="danger" busy={action.busy} label="Schedule deletion" busyLabel="Scheduling…" />
                <button type="button" class="btn btn-plain" onClick={() => setConfirmDelete(false)}>Keep the key</button>
              </div>
            </form>
          )}
          <h2>Versions</h2>
          <TableWrap label="Versions">
            <table>
              <thead><tr><th scope="col">Version</th><th scope="col">State</th><th scope="col">Created</th><th scope="col">Last used</th></tr></thead>
              <tbody>
                {k.versions.map((v) => (
                  <tr key={v.version}><th scope="row">{v.version}</th><td><StateBadge state={v.state} /></td><td>{formatTime(v.createdAt)}</td><td>{formatTime(v.lastUsedAt)}</td></tr>
                ))}
              </tbody>
            </table>
          </TableWrap>
          {k.type !== 'symmetric' && k.type !== 'hmac' && k.state !== 'destroyed' && (
            <>
              <h2>Public key</h2>
              <button
                type="button"
                class="btn btn-plain"
                onClick={async () => {
                  const result = await action.run(() => api<{ publicKey?: string }>('GET', `/keys/${k.id}/public?format=pem`));
                  if (result) setPublicKey(result.publicKey ?? '');
                }}
              >
                Show the public key (PEM)
              </button>
              {publicKey !== null && <pre class="pem" tabIndex={0} aria-label="Public key in PEM">{publicKey}</pre>}
            </>
          )}
          <p><a href={`/console/playground?key=${k.id}`}>Try this key in the playground</a></p>
        </>
      )}
    </View>
  );
}
