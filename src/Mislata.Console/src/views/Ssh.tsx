// SSH certificate authorities (issue 18): create a CA (its key is a Mislata key), copy its public key in the forms
// sshd and known_hosts take, sign a user's or a host's public key into an OpenSSH certificate, and list what was issued.
import { useState } from 'preact/hooks';
import { api, withQuery, type Page } from '../api';
import { hasScope } from '../auth';
import type { SshCa, SshCertificate } from '../model';
import { navigate } from '../router';
import { Busy, Field, FormError, Loading, Notice, NextPage, TableWrap, View, formatTime, useLoad, useSubmission, TextBlock } from '../ui';

const SSH_ALGORITHMS = ['Ed25519', 'ECDSA-P256', 'ECDSA-P384'];

export function SshCaList() {
  const [cursor, setCursor] = useState<string | null>(null);
  const [name, setName] = useState('');
  const [algorithm, setAlgorithm] = useState('Ed25519');
  const list = useLoad(() => api<Page<SshCa>>('GET', withQuery('/ssh/ca', { limit: 50, cursor })), [cursor]);
  const submission = useSubmission();
  return (
    <View title="SSH certificate authorities">
      <p class="lead">Short-lived SSH access: sshd trusts the CA's public key, and people or hosts get certificates signed by it.</p>
      <FormError message={list.error} />
      {!list.data && !list.error && <Loading what="SSH certificate authorities" />}
      {list.data && list.data.data.length === 0 && <p>No SSH certificate authority yet.</p>}
      {list.data && list.data.data.length > 0 && (
        <TableWrap label="SSH certificate authorities">
          <table>
            <caption class="visually-hidden">SSH certificate authorities</caption>
            <thead><tr><th scope="col">Name</th><th scope="col">Algorithm</th><th scope="col">Fingerprint</th><th scope="col">Created</th></tr></thead>
            <tbody>
              {list.data.data.map((ca) => (
                <tr key={ca.id}>
                  <th scope="row"><a href={`/console/ssh/${ca.id}`}>{ca.name}</a></th>
                  <td>{ca.algorithm}</td>
                  <td><code>{ca.fingerprint ?? '—'}</code></td>
                  <td>{formatTime(ca.createdAt)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableWrap>
      )}
      <NextPage cursor={list.data?.nextCursor} onNext={setCursor} />
      {hasScope('ssh:write') && (
        <form
          class="form"
          noValidate
          autoComplete="off"
          aria-labelledby="ssh-new-title"
          onSubmit={async (e) => {
            e.preventDefault();
            const created = await submission.run(() => api<SshCa>('POST', '/ssh/ca', { name, algorithm }));
            if (created) navigate(`/ssh/${created.id}`);
          }}
        >
          <h2 id="ssh-new-title">New SSH CA</h2>
          <FormError message={submission.error} />
          <Field id="ssh-ca-name" errorKey="name" label="Name" hint="Letters, digits, dots, underscores and hyphens, e.g. production-users." errors={submission.fields}>
            {(d, invalid) => <input id="ssh-ca-name" value={name} aria-describedby={d} aria-invalid={invalid} onInput={(e) => setName(e.currentTarget.value)} />}
          </Field>
          <Field id="ssh-ca-algorithm" errorKey="algorithm" label="Key algorithm" errors={submission.fields}>
            {(d, invalid) => (
              <select id="ssh-ca-algorithm" value={algorithm} aria-describedby={d} aria-invalid={invalid} onChange={(e) => setAlgorithm(e.currentTarget.value)}>
                {SSH_ALGORITHMS.map((a) => <option key={a} value={a}>{a}</option>)}
              </select>
            )}
          </Field>
          <div class="form-actions">
            <Busy busy={submission.busy} label="Create SSH CA" busyLabel="Creating…" />
          </div>
        </form>
      )}
    </View>
  );
}

function SignForm(props: { ca: SshCa; onIssued: () => void }) {
  const [publicKey, setPublicKey] = useState('');
  const [type, setType] = useState('user');
  const [keyId, setKeyId] = useState('');
  const [principals, setPrincipals] = useState('');
  const [validity, setValidity] = useState('3600');
  const [issued, setIssued] = useState<SshCertificate | null>(null);
  const submission = useSubmission();
  return (
    <>
      <form
        class="form"
        noValidate
        autoComplete="off"
        aria-labelledby="ssh-sign-title"
        onSubmit={async (e) => {
          e.preventDefault();
          setIssued(null);
          const result = await submission.run(() =>
            api<SshCertificate>('POST', '/ssh/certificates', {
              caId: props.ca.id,
              publicKey: publicKey.trim(),
              type,
              keyId,
              principals: principals.split(',').map((p) => p.trim()).filter(Boolean),
              validitySeconds: Number(validity),
            }),
          );
          if (result) {
            setIssued(result);
            props.onIssued();
          }
        }}
      >
        <h2 id="ssh-sign-title">Sign a public key</h2>
        <FormError message={submission.error} />
        <Field id="ssh-public-key" errorKey="publicKey" label="Public key" hint="The OpenSSH line of the key to certify, e.g. the content of ~/.ssh/id_ed25519.pub." errors={submission.fields}>
          {(d, invalid) => <textarea id="ssh-public-key" rows={3} spellcheck={false} value={publicKey} aria-describedby={d} aria-invalid={invalid} onInput={(e) => setPublicKey(e.currentTarget.value)} />}
        </Field>
        <Field id="ssh-type" errorKey="type" label="Certificate type" errors={submission.fields}>
          {(d, invalid) => (
            <select id="ssh-type" value={type} aria-describedby={d} aria-invalid={invalid} onChange={(e) => setType(e.currentTarget.value)}>
              <option value="user">User (logs in to hosts that trust this CA)</option>
              <option value="host">Host (proves a server's identity to clients)</option>
            </select>
          )}
        </Field>
        <Field id="ssh-key-id" errorKey="keyId" label="Key id" hint="Recorded by sshd in its log for every login with the certificate, e.g. alice@laptop." errors={submission.fields}>
          {(d, invalid) => <input id="ssh-key-id" value={keyId} aria-describedby={d} aria-invalid={invalid} onInput={(e) => setKeyId(e.currentTarget.value)} />}
        </Field>
        <Field id="ssh-principals" errorKey="principals" label="Principals" hint="Comma-separated user names (user certificates) or host names (host certificates)." errors={submission.fields}>
          {(d, invalid) => <input id="ssh-principals" value={principals} aria-describedby={d} aria-invalid={invalid} onInput={(e) => setPrincipals(e.currentTarget.value)} />}
        </Field>
        <Field id="ssh-validity" errorKey="validitySeconds" label="Validity (seconds)"
          hint={`At most ${type === 'user' ? props.ca.maxUserValiditySeconds : props.ca.maxHostValiditySeconds} for this CA.`} errors={submission.fields}>
          {(d, invalid) => <input id="ssh-validity" type="number" min={1} inputMode="numeric" value={validity} aria-describedby={d} aria-invalid={invalid} onInput={(e) => setValidity(e.currentTarget.value)} />}
        </Field>
        <div class="form-actions">
          <Busy busy={submission.busy} label="Sign" busyLabel="Signing…" />
        </div>
      </form>
      {issued?.certificate && (
        <div class="result" aria-live="polite">
          <Notice>Certificate {issued.serial} issued, valid until {formatTime(issued.validBefore)}.</Notice>
          <TextBlock id="ssh-issued" label="Certificate" text={issued.certificate} hint="Save it beside the private key as id_ed25519-cert.pub (the key's file name with -cert.pub)." />
        </div>
      )}
    </>
  );
}

export function SshCaDetail(props: { id: string }) {
  const ca = useLoad(() => api<SshCa>('GET', `/ssh/ca/${encodeURIComponent(props.id)}`), [props.id]);
  const [reload, setReload] = useState(0);
  const [cursor, setCursor] = useState<string | null>(null);
  const certificates = useLoad(
    () => api<Page<SshCertificate>>('GET', withQuery('/ssh/certificates', { caId: props.id, limit: 50, cursor })),
    [props.id, cursor, reload],
  );
  const c = ca.data;
  return (
    <View title={c ? `SSH CA ${c.name}` : 'SSH certificate authority'}>
      <FormError message={ca.error} />
      {!c && !ca.error && <Loading what="the SSH certificate authority" />}
      {c && (
        <>
          <dl class="facts">
            <dt>Id</dt><dd><code>{c.id}</code></dd>
            <dt>Algorithm</dt><dd>{c.algorithm} (key <a href={`/console/keys/${c.keyId}`}><code>{c.keyId}</code></a>, {c.keyState})</dd>
            <dt>Fingerprint</dt><dd><code>{c.fingerprint ?? '—'}</code></dd>
            <dt>Longest user certificate</dt><dd>{c.maxUserValiditySeconds} s</dd>
            <dt>Longest host certificate</dt><dd>{c.maxHostValiditySeconds} s</dd>
            <dt>Allowed principals</dt><dd>{c.allowedPrincipals.length ? c.allowedPrincipals.join(', ') : 'any'}</dd>
          </dl>
          {c.publicKey && <TextBlock id="ssh-ca-key" label="Public key" text={c.publicKey} hint="For sshd: save it as a file named in TrustedUserCAKeys." />}
          {c.authorizedKeysLine && <TextBlock id="ssh-ca-authorized" label="authorized_keys line" text={c.authorizedKeysLine} />}
          {c.knownHostsLine && <TextBlock id="ssh-ca-known-hosts" label="known_hosts line" text={c.knownHostsLine} hint="Narrow the * to your hosts' names." />}
          {hasScope('ssh:write') && <SignForm ca={c} onIssued={() => { setCursor(null); setReload(reload + 1); }} />}
          <h2>Issued certificates</h2>
          <FormError message={certificates.error} />
          {certificates.data && certificates.data.data.length === 0 && <p>None yet.</p>}
          {certificates.data && certificates.data.data.length > 0 && (
            <TableWrap label="Issued SSH certificates">
              <table>
                <caption class="visually-hidden">SSH certificates issued by {c.name}</caption>
                <thead><tr><th scope="col">Serial</th><th scope="col">Type</th><th scope="col">Key id</th><th scope="col">Principals</th><th scope="col">Valid until</th></tr></thead>
                <tbody>
                  {certificates.data.data.map((cert) => (
                    <tr key={cert.id}>
                      <th scope="row"><code>{cert.serial}</code></th>
                      <td>{cert.type}</td>
                      <td>{cert.keyId}</td>
                      <td>{cert.principals.join(', ')}</td>
                      <td>{formatTime(cert.validBefore)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </TableWrap>
          )}
          <NextPage cursor={certificates.data?.nextCursor} onNext={setCursor} />
        </>
      )}
    </View>
  );
}
