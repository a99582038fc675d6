import { useState } from 'preact/hooks';
import { api, withQuery, type Page } from '../api';
import { hasScope } from '../auth';
import type { Secret, SecretValue, SecretVersion } from '../model';
import { navigate } from '../router';
import { Busy, CopyButton, Field, FormError, Loading, Notice, StateBadge, View, formatTime, useLoad, useSubmission, TableWrap, NextPage } from '../ui';

export function SecretList() {
  const [name, setName] = useState('');
  const [state, setState] = useState('live');
  const [cursor, setCursor] = useState<string | null>(null);
  const list = useLoad(() => api<Page<Secret>>('GET', withQuery('/secrets', { name, state, limit: 50, cursor })), [name, state, cursor]);
  return (
    <View title="Secrets" actions={hasScope('secrets:write') ? <a class="btn btn-primary" href="/console/secrets/new">New secret</a> : undefined}>
      <form class="filters" role="search" aria-label="Filter secrets" onSubmit={(e) => e.preventDefault()}>
        <div class="field">
          <label for="secret-filter-name">Name starts with</label>
          <input id="secret-filter-name" type="search" value={name} onInput={(e) => { setCursor(null); setName(e.currentTarget.value); }} />
        </div>
        <div class="field">
          <label for="secret-filter-state">Show</label>
          <select id="secret-filter-state" value={state} onChange={(e) => { setCursor(null); setState(e.currentTarget.value); }}>
            <option value="live">Live secrets</option>
            <option value="deleted">Deleted (restorable)</option>
          </select>
        </div>
      </form>
      <FormError message={list.error} />
      {!list.data && !list.error && <Loading what="secrets" />}
      {list.data && list.data.data.length === 0 && <p>No secrets match.</p>}
      {list.data && list.data.data.length > 0 && (
        <TableWrap label="Secrets (values are never listed)">
          <table>
            <caption class="visually-hidden">Secrets (values are never listed)</caption>
            <thead><tr><th scope="col">Name</th><th scope="col">Version</th><th scope="col">State</th><th scope="col">Updated</th></tr></thead>
            <tbody>
              {list.data.data.map((s) => (
                <tr key={s.id}>
                  <th scope="row"><a href={`/console/secrets/${s.id}`}>{s.name}</a></th>
                  <td>{s.currentVersion}</td>
                  <td><StateBadge state={s.state} /></td>
                  <td>{formatTime(s.updatedAt)}</td>
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

export function SecretCreate() {
  const [name, setName] = useState('');
  const [value, setValue] = useState('');
  const [description, setDescription] = useState('');
  const submission = useSubmission();
  return (
    <View title="New secret">
      <form
        class="form"
        noValidate
        autoComplete="off"
        onSubmit={async (e) => {
          e.preventDefault();
          const created = await submission.run(() =>
            api<{ id: string }>('POST', '/secrets', { name, value, description: description || undefined }),
          );
          if (created) navigate(`/secrets/${created.id}`);
        }}
      >
        <FormError message={submission.error} />
        <Field id="secret-name" errorKey="name" label="Name" hint="Unique among your live secrets, e.g. payments/db-password." errors={submission.fields}>
          {(d, invalid) => <input id="secret-name" value={name} aria-describedby={d} aria-invalid={invalid} onInput={(e) => setName(e.currentTarget.value)} />}
        </Field>
        <Field id="secret-value" errorKey="value" label="Value" hint="Encrypted under your tenant's key before it is stored." errors={submission.fields}>
          {(d, invalid) => <textarea id="secret-value" rows={3} spellcheck={false} value={value} aria-describedby={d} aria-invalid={invalid} onInput={(e) => setValue(e.currentTarget.value)} />}
        </Field>
        <Field id="secret-description" errorKey="description" label="Description (optional)" errors={submission.fields}>
          {(d) => <input id="secret-description" value={description} aria-describedby={d} onInput={(e) => setDescription(e.currentTarget.value)} />}
        </Field>
        <div class="form-actions">
          <Busy busy={submission.busy} label="Save secret" busyLabel="Saving…" />
          <a class="btn btn-plain" href="/console/secrets">Cancel</a>
        </div>
      </form>
    </View>
  );
}

export function SecretDetail(props: { id: string }) {
  // Metadata only: the value is read (and audited as read) only when the user asks for it.
  const secret = useLoad(() => api<Secret>('GET', `/secrets/${encodeURIComponent(props.id)}/metadata`), [props.id]);
  const versions = useLoad(
    () => (secret.data?.state === 'live' ? api<Page<SecretVersion>>('GET', `/secrets/${encodeURIComponent(props.id)}/versions`) : Promise.resolve(null)),
    [props.id, secret.data?.state, secret.data?.currentVersion],
  );
  const [revealed, setRevealed] = useState<SecretValue | null>(null);
  const [confirmReveal, setConfirmReveal] = useState(false);
  const [newValue, setNewValue] = useState('');
  const [done, setDone] = useState<string | null>(null);
  const action = useSubmission();
  const s = secret.data;
  const versionList = versions.data?.data ?? [];
  const write = hasScope('secrets:write');

  return (
    <View title={s ? `Secret ${s.name}` : 'Secret'}>
      <FormError message={secret.error ?? action.error} />
      {done && <Notice>{done}</Notice>}
      {!s && !secret.error && <Loading what="the secret" />}
      {s && (
        <>
          <dl class="facts">
            <dt>Id</dt><dd><code>{s.id}</code></dd>
            <dt>Current version</dt><dd>{s.currentVersion}</dd>
            <dt>Description</dt><dd>{s.description || '—'}</dd>
            <dt>Expires</dt><dd>{formatTime(s.expiresAt)}</dd>
            <dt>Updated</dt><dd>{formatTime(s.updatedAt)}</dd>
          </dl>
          <h2>Value</h2>
          {!revealed && !confirmReveal && (
            <button type="button" class="btn btn-plain" onClick={() => setConfirmReveal(true)}>Reveal the value…</button>
          )}
          {!revealed && confirmReveal && (
            <div class="confirm" role="group" aria-label="Confirm revealing the value">
              <p>The value will be shown on this screen and the read is recorded in the audit trail.</p>
              <Busy
                type="button"
                busy={action.busy}
                label="Reveal"
                busyLabel="Reading…"
                onClick={async () => {
                  const value = await action.run(() => api<SecretValue>('GET', `/secrets/${s.id}?includeExpired=true`));
                  if (value) { setRevealed(value); setConfirmReveal(false); }
                }}
              />
              <button type="button" class="btn btn-plain" onClick={() => setConfirmReveal(false)}>Cancel</button>
            </div>
          )}
          {revealed && (
            <div class="secret-value">
              <pre id="secret-revealed" tabIndex={0} aria-label={`Value of version ${revealed.version}`}>{revealed.value}</pre>
              <CopyButton text={revealed.value} label="Copy value" />
              <button type="button" class="btn btn-plain" onClick={() => setRevealed(null)}>Hide</button>
            </div>
          )}
          {write && s.state === 'live' && (
            <form
              class="form"
              noValidate
              autoComplete="off"
              onSubmit={async (e) => {
                e.preventDefault();
                const written = await action.run(() => api<{ version: number }>('PUT', `/secrets/${s.id}`, { value: newValue, expectedVersion: s.currentVersion }));
                if (written) { setNewValue(''); setRevealed(null); setDone(`Version ${written.version} saved.`); secret.reload(); }
              }}
            >
              <h2>New version</h2>
              <Field id="new-value" errorKey="value" label="New value" errors={action.fields}>
                {(d, invalid) => <textarea id="new-value" rows={3} spellcheck={false} value={newValue} aria-describedby={d} aria-invalid={invalid} onInput={(e) => setNewValue(e.currentTarget.value)} />}
              </Field>
              <div class="form-actions"><Busy busy={action.busy} label="Save new version" busyLabel="Saving…" /></div>
            </form>
          )}
          <h2>History</h2>
          <TableWrap label="Versions">
            <table>
              <thead><tr><th scope="col">Version</th><th scope="col">Created</th><th scope="col">By</th></tr></thead>
              <tbody>
                {versionList.map((v) => (
                  <tr key={v.version}><th scope="row">{v.version}{v.current && ' (current)'}</th><td>{formatTime(v.createdAt)}</td><td>{v.createdBy ?? '—'}</td></tr>
                ))}
              </tbody>
            </table>
          </TableWrap>
          {write && (
            <div class="toolbar">
              {s.state === 'live' ? (
                <Busy type="button" kind="danger" busy={action.busy} label="Delete (restorable for 30 days)" busyLabel="Deleting…"
                  onClick={async () => { if (await action.run(async () => { await api('DELETE', `/secrets/${s.id}`); return true; })) { setDone('Deleted; it can be restored for 30 days.'); secret.reload(); } }} />
              ) : (
                <Busy type="button" kind="plain" busy={action.busy} label="Restore" busyLabel="Restoring…"
                  onClick={async () => { if (await action.run(async () => { await api('POST', `/secrets/${s.id}/restore`); return true; })) { setDone('Restored.'); secret.reload(); } }} />
              )}
            </div>
          )}
        </>
      )}
    </View>
  );
}
