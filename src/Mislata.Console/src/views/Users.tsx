import { useState } from 'preact/hooks';
import { api, withQuery, type Page } from '../api';
import { currentSession, hasScope } from '../auth';
import { Busy, CopyButton, Field, FormError, Loading, Notice, StateBadge, View, formatTime, useLoad, useSubmission, TableWrap, NextPage } from '../ui';

interface User { id: string; email: string; roles: string[]; tenantId?: string | null; status: string; mfaEnabled: boolean; createdAt: string }
interface CreatedUser extends User { setPasswordUrl?: string | null }

const ROLES: { name: string; explain: string }[] = [
  { name: 'tenant-member', explain: 'Uses keys and secrets: encrypt, decrypt, sign, read and write secrets.' },
  { name: 'auditor', explain: 'Reads the audit trail, keys and usage; changes nothing.' },
  { name: 'tenant-admin', explain: 'Everything in the tenant, including users and API keys.' },
];

export function Users() {
  const [cursor, setCursor] = useState<string | null>(null);
  const list = useLoad(() => api<Page<User>>('GET', withQuery('/users', { limit: 50, cursor })), [cursor]);
  const [email, setEmail] = useState('');
  const [role, setRole] = useState('tenant-member');
  const [invited, setInvited] = useState<CreatedUser | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const invite = useSubmission();
  const action = useSubmission();
  const write = hasScope('users:write');
  const me = currentSession()?.user.id;

  async function act(user: User, path: string, message: string) {
    const done = await action.run(async () => { await api('POST', `/users/${user.id}/${path}`); return true; });
    if (done) { setNotice(message); list.reload(); }
  }

  return (
    <View title="Users">
      {notice && <Notice>{notice}</Notice>}
      {invited && (
        <section class="card created" aria-labelledby="invited-title">
          <h2 id="invited-title">{invited.email} invited</h2>
          {invited.setPasswordUrl
            ? <><p>Send this link to the person; it lets them choose a password once.</p><pre tabIndex={0}>{invited.setPasswordUrl}</pre><CopyButton text={invited.setPasswordUrl} label="Copy link" /></>
            : <p>The account is ready.</p>}
          <button type="button" class="btn btn-plain" onClick={() => setInvited(null)}>Done</button>
        </section>
      )}
      {write && !invited && (
        <form
          class="form"
          noValidate
          onSubmit={async (e) => {
            e.preventDefault();
            const user = await invite.run(() => api<CreatedUser>('POST', '/users', { email, roles: [role] }));
            if (user) { setInvited(user); setEmail(''); list.reload(); }
          }}
        >
          <h2>Invite a user</h2>
          <FormError message={invite.error} />
          <Field id="user-email" errorKey="email" label="Email" errors={invite.fields}>
            {(d, invalid) => <input id="user-email" type="email" autoComplete="off" value={email} aria-describedby={d} aria-invalid={invalid} onInput={(e) => setEmail(e.currentTarget.value)} />}
          </Field>
          <fieldset class="choices">
            <legend>Role</legend>
            {ROLES.map((r) => (
              <label key={r.name} class="choice">
                <input type="radio" name="role" value={r.name} checked={role === r.name} onChange={() => setRole(r.name)} />
                <span><strong>{r.name}</strong> — {r.explain}</span>
              </label>
            ))}
          </fieldset>
          <div class="form-actions"><Busy busy={invite.busy} label="Invite" busyLabel="Inviting…" /></div>
        </form>
      )}
      <h2>People</h2>
      <FormError message={list.error ?? action.error} />
      {!list.data && !list.error && <Loading what="users" />}
      {list.data && list.data.data.length > 0 && (
        <TableWrap label="Users of your tenant">
          <table>
            <caption class="visually-hidden">Users of your tenant</caption>
            <thead><tr><th scope="col">Email</th><th scope="col">Roles</th><th scope="col">Status</th><th scope="col">MFA</th><th scope="col">Created</th>{write && <th scope="col"><span class="visually-hidden">Actions</span></th>}</tr></thead>
            <tbody>
              {list.data.data.map((u) => (
                <tr key={u.id}>
                  <th scope="row">{u.email}</th>
                  <td>{u.roles.join(', ')}</td>
                  <td><StateBadge state={u.status} /></td>
                  <td>{u.mfaEnabled ? 'On' : 'Off'}</td>
                  <td>{formatTime(u.createdAt)}</td>
                  {write && (
                    <td class="row-actions">
                      {u.id !== me && u.status !== 'blocked' && <button type="button" class="btn btn-danger btn-small" aria-label={`Block ${u.email}`} onClick={() => act(u, 'block', `${u.email} is blocked and signed out.`)}>Block</button>}
                      {u.id !== me && u.status === 'blocked' && <button type="button" class="btn btn-plain btn-small" aria-label={`Unblock ${u.email}`} onClick={() => act(u, 'unblock', `${u.email} can sign in again.`)}>Unblock</button>}
                      {u.mfaEnabled && u.id !== me && <button type="button" class="btn btn-plain btn-small" aria-label={`Reset MFA of ${u.email}`} onClick={() => act(u, 'reset-mfa', `${u.email} sets up a second factor again at the next sign-in.`)}>Reset MFA</button>}
                    </td>
                  )}
                </tr>
              ))}
            </tbody>
          </table>
        </TableWrap>
      )}
      <NextPage cursor={list.data?.nextCursor} onNext={setCursor} />
      {action.busy && <p role="status">Working…</p>}
    </View>
  );
}
