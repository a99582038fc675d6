import { useState } from 'preact/hooks';
import { api, withQuery, type Page } from '../api';
import { currentSession, hasScope } from '../auth';
import type { ApiKey, CreatedApiKey } from '../model';
import { Busy, CopyButton, Field, FormError, Loading, Notice, StateBadge, View, formatTime, useLoad, useSubmission, TableWrap, NextPage } from '../ui';

/** Tenant scopes an API key can carry; the form offers only those the signed-in user holds (a key gets no more). */
const TENANT_SCOPES = [
  'keys:read', 'keys:write', 'encryption:write', 'secrets:read', 'secrets:write', 'apikeys:read', 'apikeys:write', 'audit:read', 'billing:read',
];

export function ApiKeys() {
  const [cursor, setCursor] = useState<string | null>(null);
  const list = useLoad(() => api<Page<ApiKey>>('GET', withQuery('/api-keys', { limit: 50, cursor })), [cursor]);
  const held = TENANT_SCOPES.filter((s) => currentSession()?.scopes.has(s));
  const [name, setName] = useState('');
  const [scopes, setScopes] = useState<string[]>(['encryption:write']);
  const [expires, setExpires] = useState('');
  const [created, setCreated] = useState<CreatedApiKey | null>(null);
  const [revoked, setRevoked] = useState<string | null>(null);
  const submission = useSubmission();
  const revoke = useSubmission();
  const write = hasScope('apikeys:write');

  return (
    <View title="API keys">
      {created && (
        <section class="card created" aria-labelledby="created-title">
          <h2 id="created-title">API key “{created.name}” created</h2>
          <p><strong>Copy it now: it is shown only once</strong> and cannot be recovered (Mislata keeps only a hash).</p>
          <pre id="created-key" tabIndex={0} aria-label="The new API key">{created.key}</pre>
          <CopyButton text={created.key} label="Copy API key" />
          <button type="button" class="btn btn-plain" onClick={() => setCreated(null)}>I have stored it</button>
        </section>
      )}
      {revoked && <Notice>{revoked}</Notice>}
      {write && !created && (
        <form
          class="form"
          noValidate
          onSubmit={async (e) => {
            e.preventDefault();
            const key = await submission.run(() =>
              api<CreatedApiKey>('POST', '/api-keys', { name, scopes, expiresAt: expires ? new Date(expires).toISOString() : undefined }),
            );
            if (key) { setCreated(key); setName(''); list.reload(); }
          }}
        >
          <h2>Create an API key</h2>
          <FormError message={submission.error} />
          <Field id="apikey-name" errorKey="name" label="Name" hint="What uses it, e.g. orders-service." errors={submission.fields}>
            {(d, invalid) => <input id="apikey-name" value={name} aria-describedby={d} aria-invalid={invalid} onInput={(e) => setName(e.currentTarget.value)} />}
          </Field>
          <fieldset class="choices" aria-describedby={submission.fields['scopes'] ? 'apikey-scopes-error' : undefined}>
            <legend>Scopes</legend>
            {held.map((scope) => (
              <label key={scope} class="choice">
                <input
                  type="checkbox"
                  checked={scopes.includes(scope)}
                  onChange={(e) => setScopes(e.currentTarget.checked ? [...scopes, scope] : scopes.filter((s) => s !== scope))}
                />
                <code>{scope}</code>
              </label>
            ))}
            {submission.fields['scopes'] && <p class="field-error" id="apikey-scopes-error">{submission.fields['scopes'].join(' ')}</p>}
          </fieldset>
          <Field id="apikey-expires" errorKey="expiresAt" label="Expires (optional)" errors={submission.fields}>
            {(d, invalid) => <input id="apikey-expires" type="datetime-local" value={expires} aria-describedby={d} aria-invalid={invalid} onInput={(e) => setExpires(e.currentTarget.value)} />}
          </Field>
          <div class="form-actions"><Busy busy={submission.busy} label="Create API key" busyLabel="Creating…" /></div>
        </form>
      )}
      <h2>Keys</h2>
      <FormError message={list.error ?? revoke.error} />
      {!list.data && !list.error && <Loading what="API keys" />}
      {list.data && list.data.data.length === 0 && <p>No API keys yet.</p>}
      {list.data && list.data.data.length > 0 && (
        <TableWrap label="API keys of your tenant (the keys themselves are never shown again)">
          <table>
            <caption class="visually-hidden">API keys of your tenant (the keys themselves are never shown again)</caption>
            <thead><tr><th scope="col">Name</th><th scope="col">Prefix</th><th scope="col">Scopes</th><th scope="col">Status</th><th scope="col">Created</th>{write && <th scope="col"><span class="visually-hidden">Actions</span></th>}</tr></thead>
            <tbody>
              {list.data.data.map((k) => (
                <tr key={k.id}>
                  <th scope="row">{k.name}</th>
                  <td><code>{k.prefix}</code></td>
                  <td>{k.scopes.join(' ')}</td>
                  <td><StateBadge state={k.status ?? (k.revokedAt ? 'revoked' : 'active')} /></td>
                  <td>{formatTime(k.createdAt)}</td>
                  {write && (
                    <td>
                      {!k.revokedAt && (
                        <button
                          type="button"
                          class="btn btn-danger btn-small"
                          aria-label={`Revoke ${k.name}`}
                          onClick={async () => {
                            if (!window.confirm(`Revoke the API key “${k.name}”? Applications using it stop working at once.`)) return;
                            const done = await revoke.run(async () => { await api('DELETE', `/api-keys/${k.id}`); return true; });
                            if (done) { setRevoked(`API key “${k.name}” revoked.`); list.reload(); }
                          }}
                        >
                          Revoke
                        </button>
                      )}
                    </td>
                  )}
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
