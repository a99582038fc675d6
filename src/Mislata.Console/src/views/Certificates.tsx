// X.509 certificate authorities (issue 18): list and create CAs (root, intermediate, hybrid), read a CA with its
// certificate, chain and current CRL, issue certificates from a CSR or with a key Mislata generates (the private key is
// shown once), and revoke them. Everything goes through /api/v1/cas and /api/v1/certificates like any client.
import { useState } from 'preact/hooks';
import { api, apiText, withQuery, type Page } from '../api';
import { hasScope } from '../auth';
import type { CertificateAuthority, IssuedCertificate } from '../model';
import { CA_ALGORITHMS, REVOCATION_REASONS } from '../model';
import { navigate } from '../router';
import { Busy, Field, FormError, Loading, Notice, NextPage, TableWrap, View, formatTime, useLoad, useSubmission, TextBlock } from '../ui';

export function CaList() {
  const [cursor, setCursor] = useState<string | null>(null);
  const list = useLoad(() => api<Page<CertificateAuthority>>('GET', withQuery('/cas', { limit: 50, cursor })), [cursor]);
  return (
    <View title="Certificate authorities" actions={hasScope('certificates:write') ? <a class="btn btn-primary" href="/console/cas/new">New CA</a> : undefined}>
      <p class="lead">X.509 CAs whose keys are Mislata keys: they sign certificates and revocation lists and never leave the service.</p>
      <FormError message={list.error} />
      {!list.data && !list.error && <Loading what="certificate authorities" />}
      {list.data && list.data.data.length === 0 && <p>No certificate authority yet.</p>}
      {list.data && list.data.data.length > 0 && (
        <TableWrap label="Certificate authorities">
          <table>
            <caption class="visually-hidden">Certificate authorities</caption>
            <thead><tr><th scope="col">Name</th><th scope="col">Algorithm</th><th scope="col">Subject</th><th scope="col">Kind</th><th scope="col">Expires</th></tr></thead>
            <tbody>
              {list.data.data.map((ca) => (
                <tr key={ca.id}>
                  <th scope="row"><a href={`/console/cas/${ca.id}`}>{ca.name}</a></th>
                  <td>{ca.algorithm}</td>
                  <td><code>{ca.subject}</code></td>
                  <td>{ca.parentId ? 'intermediate' : 'root'}{ca.companionId ? ' (hybrid)' : ''}</td>
                  <td>{formatTime(ca.notAfter)}</td>
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

export function CaCreate() {
  const [name, setName] = useState('');
  const [algorithm, setAlgorithm] = useState('ML-DSA-65');
  const [subject, setSubject] = useState('');
  const [validityDays, setValidityDays] = useState('3650');
  const [parentId, setParentId] = useState('');
  const [pathLength, setPathLength] = useState('');
  const [maxValidityDays, setMaxValidityDays] = useState('');
  const [allowedDomains, setAllowedDomains] = useState('');
  const [hybrid, setHybrid] = useState(false);
  const parents = useLoad(() => api<Page<CertificateAuthority>>('GET', withQuery('/cas', { limit: 100 })), []);
  const submission = useSubmission();
  const chosen = CA_ALGORITHMS.find((a) => a.name === algorithm);
  return (
    <View title="New certificate authority">
      <form
        class="form"
        noValidate
        autoComplete="off"
        onSubmit={async (e) => {
          e.preventDefault();
          const created = await submission.run(() =>
            api<CertificateAuthority>('POST', '/cas', {
              name,
              algorithm,
              subject,
              validityDays: Number(validityDays),
              parentId: parentId || undefined,
              pathLength: pathLength === '' ? undefined : Number(pathLength),
              maxValidityDays: maxValidityDays === '' ? undefined : Number(maxValidityDays),
              allowedDomains: allowedDomains.trim() ? allowedDomains.split(',').map((d) => d.trim()).filter(Boolean) : undefined,
              hybrid: hybrid ? { classicAlgorithm: 'ECDSA-P256' } : undefined,
            }),
          );
          if (created) navigate(`/cas/${created.id}`);
        }}
      >
        <FormError message={submission.error} />
        <Field id="ca-name" errorKey="name" label="Name" hint="Unique among your CAs, e.g. services-root." errors={submission.fields}>
          {(d, invalid) => <input id="ca-name" value={name} aria-describedby={d} aria-invalid={invalid} onInput={(e) => setName(e.currentTarget.value)} />}
        </Field>
        <Field id="ca-algorithm" errorKey="algorithm" label="Key algorithm" hint={chosen?.explain} errors={submission.fields}>
          {(d, invalid) => (
            <select id="ca-algorithm" value={algorithm} aria-describedby={d} aria-invalid={invalid} onChange={(e) => setAlgorithm(e.currentTarget.value)}>
              {CA_ALGORITHMS.map((a) => <option key={a.name} value={a.name}>{a.name}</option>)}
            </select>
          )}
        </Field>
        <Field id="ca-subject" errorKey="subject" label="Subject" hint="An RFC 4514 name, e.g. CN=Payments Root CA,O=Example Ltd,C=GB." errors={submission.fields}>
          {(d, invalid) => <input id="ca-subject" value={subject} aria-describedby={d} aria-invalid={invalid} onInput={(e) => setSubject(e.currentTarget.value)} />}
        </Field>
        <Field id="ca-validity" errorKey="validityDays" label="Validity (days)" errors={submission.fields}>
          {(d, invalid) => <input id="ca-validity" type="number" min={1} inputMode="numeric" value={validityDays} aria-describedby={d} aria-invalid={invalid} onInput={(e) => setValidityDays(e.currentTarget.value)} />}
        </Field>
        <Field id="ca-parent" errorKey="parentId" label="Parent CA (optional)" hint="Leave empty for a root CA; choose a CA to create an intermediate under it." errors={submission.fields}>
          {(d, invalid) => (
            <select id="ca-parent" value={parentId} aria-describedby={d} aria-invalid={invalid} onChange={(e) => setParentId(e.currentTarget.value)}>
              <option value="">None (root CA)</option>
              {(parents.data?.data ?? []).map((ca) => <option key={ca.id} value={ca.id}>{ca.name} ({ca.algorithm})</option>)}
            </select>
          )}
        </Field>
        <Field id="ca-path-length" errorKey="pathLength" label="Path length (optional)" hint="How many intermediate CAs may follow this one; 0 lets it sign only end-entity certificates." errors={submission.fields}>
          {(d, invalid) => <input id="ca-path-length" type="number" min={0} inputMode="numeric" value={pathLength} aria-describedby={d} aria-invalid={invalid} onInput={(e) => setPathLength(e.currentTarget.value)} />}
        </Field>
        <Field id="ca-max-validity" errorKey="maxValidityDays" label="Longest certificate it issues (days, optional)" hint="Default 397." errors={submission.fields}>
          {(d, invalid) => <input id="ca-max-validity" type="number" min={1} inputMode="numeric" value={maxValidityDays} aria-describedby={d} aria-invalid={invalid} onInput={(e) => setMaxValidityDays(e.currentTarget.value)} />}
        </Field>
        <Field id="ca-domains" errorKey="allowedDomains" label="Allowed domains (optional)" hint="Comma-separated; when set, DNS and e-mail names of its certificates must fall under one of them." errors={submission.fields}>
          {(d, invalid) => <input id="ca-domains" value={allowedDomains} aria-describedby={d} aria-invalid={invalid} onInput={(e) => setAllowedDomains(e.currentTarget.value)} />}
        </Field>
        <div class="field field-check">
          <input id="ca-hybrid" type="checkbox" checked={hybrid} aria-describedby="ca-hybrid-hint" onChange={(e) => setHybrid(e.currentTarget.checked)} />
          <label for="ca-hybrid">Hybrid: also create a classic ECDSA P-256 CA under the same name</label>
          <p class="hint" id="ca-hybrid-hint">For migration: issue a classic and a post-quantum certificate for one subject in one call, so relying parties can move over.</p>
        </div>
        <div class="form-actions">
          <Busy busy={submission.busy} label="Create CA" busyLabel="Creating…" />
          <a class="btn btn-plain" href="/console/cas">Cancel</a>
        </div>
      </form>
    </View>
  );
}

function IssueForm(props: { ca: CertificateAuthority; onIssued: () => void }) {
  const [source, setSource] = useState<'generate' | 'csr'>('generate');
  const [subject, setSubject] = useState('');
  const [algorithm, setAlgorithm] = useState('ECDSA-P256');
  const [csrPem, setCsrPem] = useState('');
  const [profile, setProfile] = useState('server');
  const [sans, setSans] = useState('');
  const [validityDays, setValidityDays] = useState('90');
  const [pair, setPair] = useState(false);
  const [issued, setIssued] = useState<IssuedCertificate | null>(null);
  const submission = useSubmission();
  return (
    <>
      <form
        class="form"
        noValidate
        autoComplete="off"
        aria-labelledby="issue-title"
        onSubmit={async (e) => {
          e.preventDefault();
          setIssued(null);
          const result = await submission.run(() =>
            api<IssuedCertificate>('POST', '/certificates', {
              caId: props.ca.id,
              ...(source === 'csr' ? { csrPem } : { subject, algorithm }),
              profile,
              sans: sans.trim() ? sans.split(',').map((s) => s.trim()).filter(Boolean) : undefined,
              validityDays: Number(validityDays),
              pair: pair || undefined,
            }),
          );
          if (result) {
            setIssued(result);
            props.onIssued();
          }
        }}
      >
        <h2 id="issue-title">Issue a certificate</h2>
        <FormError message={submission.error} />
        <fieldset class="field">
          <legend>Key pair</legend>
          <label class="radio"><input type="radio" name="issue-source" checked={source === 'generate'} onChange={() => setSource('generate')} /> Mislata generates it (the private key is shown once)</label>
          <label class="radio"><input type="radio" name="issue-source" checked={source === 'csr'} onChange={() => setSource('csr')} /> From my certificate signing request (CSR)</label>
        </fieldset>
        {source === 'generate' ? (
          <>
            <Field id="issue-subject" errorKey="subject" label="Subject" hint="e.g. CN=api.example.com,O=Example Ltd." errors={submission.fields}>
              {(d, invalid) => <input id="issue-subject" value={subject} aria-describedby={d} aria-invalid={invalid} onInput={(e) => setSubject(e.currentTarget.value)} />}
            </Field>
            <Field id="issue-algorithm" errorKey="algorithm" label="Key algorithm" errors={submission.fields}>
              {(d, invalid) => (
                <select id="issue-algorithm" value={algorithm} aria-describedby={d} aria-invalid={invalid} onChange={(e) => setAlgorithm(e.currentTarget.value)}>
                  {CA_ALGORITHMS.map((a) => <option key={a.name} value={a.name}>{a.name}</option>)}
                </select>
              )}
            </Field>
          </>
        ) : (
          <Field id="issue-csr" errorKey="csrPem" label="CSR (PEM)" hint="-----BEGIN CERTIFICATE REQUEST-----; its signature must verify." errors={submission.fields}>
            {(d, invalid) => <textarea id="issue-csr" rows={6} spellcheck={false} value={csrPem} aria-describedby={d} aria-invalid={invalid} onInput={(e) => setCsrPem(e.currentTarget.value)} />}
          </Field>
        )}
        <Field id="issue-profile" errorKey="profile" label="Profile" errors={submission.fields}>
          {(d, invalid) => (
            <select id="issue-profile" value={profile} aria-describedby={d} aria-invalid={invalid} onChange={(e) => setProfile(e.currentTarget.value)}>
              <option value="server">Server (TLS server authentication)</option>
              <option value="client">Client (TLS client authentication, mTLS)</option>
              <option value="codeSigning">Code signing</option>
            </select>
          )}
        </Field>
        <Field id="issue-sans" errorKey="sans" label="Subject alternative names (optional)" hint="Comma-separated: dns:api.example.com, ip:10.0.0.7, email:ops@example.com, uri:spiffe://example/api." errors={submission.fields}>
          {(d, invalid) => <input id="issue-sans" value={sans} aria-describedby={d} aria-invalid={invalid} onInput={(e) => setSans(e.currentTarget.value)} />}
        </Field>
        <Field id="issue-validity" errorKey="validityDays" label="Validity (days)" hint={`At most ${props.ca.maxValidityDays} for this CA.`} errors={submission.fields}>
          {(d, invalid) => <input id="issue-validity" type="number" min={1} inputMode="numeric" value={validityDays} aria-describedby={d} aria-invalid={invalid} onInput={(e) => setValidityDays(e.currentTarget.value)} />}
        </Field>
        {props.ca.companionId && (
          <div class="field field-check">
            <input id="issue-pair" type="checkbox" checked={pair} onChange={(e) => setPair(e.currentTarget.checked)} />
            <label for="issue-pair">Also issue from the hybrid companion CA (a classic and a post-quantum certificate)</label>
          </div>
        )}
        <div class="form-actions">
          <Busy busy={submission.busy} label="Issue certificate" busyLabel="Issuing…" />
        </div>
      </form>
      {issued && (
        <div class="result" aria-live="polite">
          <Notice>Certificate {issued.serialNumber} issued.</Notice>
          {issued.privateKeyPem && (
            <>
              <p class="warning"><strong>Copy the private key now:</strong> Mislata does not keep it and cannot show it again.</p>
              <TextBlock id="issued-key" label="Private key" text={issued.privateKeyPem} />
            </>
          )}
          <TextBlock id="issued-cert" label="Certificate" text={issued.certificatePem} />
          {issued.chainPem && <TextBlock id="issued-chain" label="Chain" text={issued.chainPem} />}
          {issued.companion && <TextBlock id="issued-companion" label={`Companion certificate (${issued.companion.keyAlgorithm})`} text={issued.companion.certificatePem} />}
          {issued.companion?.privateKeyPem && <TextBlock id="issued-companion-key" label="Companion private key" text={issued.companion.privateKeyPem} />}
        </div>
      )}
    </>
  );
}

function RevokeButton(props: { certificate: IssuedCertificate; onRevoked: () => void }) {
  const [open, setOpen] = useState(false);
  const [reason, setReason] = useState('unspecified');
  const submission = useSubmission();
  const id = `revoke-${props.certificate.id}`;
  if (!open) {
    return <button type="button" class="btn btn-plain" onClick={() => setOpen(true)} aria-label={`Revoke certificate ${props.certificate.serialNumber}`}>Revoke…</button>;
  }

  return (
    <div class="confirm" role="group" aria-label={`Revoke certificate ${props.certificate.serialNumber}`}>
      <FormError message={submission.error} />
      <label for={`${id}-reason`}>Reason</label>
      <select id={`${id}-reason`} value={reason} onChange={(e) => setReason(e.currentTarget.value)}>
        {REVOCATION_REASONS.map((r) => <option key={r} value={r}>{r}</option>)}
      </select>
      <Busy
        type="button"
        kind="danger"
        busy={submission.busy}
        label="Revoke"
        busyLabel="Revoking…"
        onClick={async () => {
          const done = await submission.run(async () => {
            await api('POST', `/certificates/${props.certificate.id}/revoke`, { reason });
            return true;
          });
          if (done) {
            setOpen(false);
            props.onRevoked();
          }
        }}
      />
      <button type="button" class="btn btn-plain" onClick={() => setOpen(false)}>Cancel</button>
    </div>
  );
}

export function CaDetail(props: { id: string }) {
  const ca = useLoad(() => api<CertificateAuthority>('GET', `/cas/${encodeURIComponent(props.id)}`), [props.id]);
  const [reload, setReload] = useState(0);
  const [cursor, setCursor] = useState<string | null>(null);
  const certificates = useLoad(
    () => api<Page<IssuedCertificate>>('GET', withQuery('/certificates', { caId: props.id, limit: 50, cursor })),
    [props.id, cursor, reload],
  );
  const [crl, setCrl] = useState<string | null>(null);
  const crlLoad = useSubmission();
  const c = ca.data;
  const write = hasScope('certificates:write');
  return (
    <View title={c ? `CA ${c.name}` : 'Certificate authority'}>
      <FormError message={ca.error} />
      {!c && !ca.error && <Loading what="the certificate authority" />}
      {c && (
        <>
          <dl class="facts">
            <dt>Id</dt><dd><code>{c.id}</code></dd>
            <dt>Subject</dt><dd><code>{c.subject}</code></dd>
            <dt>Algorithm</dt><dd>{c.algorithm} (key <a href={`/console/keys/${c.keyId}`}><code>{c.keyId}</code></a>)</dd>
            <dt>Kind</dt><dd>{c.parentId ? <>intermediate under <a href={`/console/cas/${c.parentId}`}>its parent</a></> : 'root'}{c.pathLength !== null && c.pathLength !== undefined ? `, path length ${c.pathLength}` : ''}</dd>
            {c.companionId && <><dt>Hybrid companion</dt><dd><a href={`/console/cas/${c.companionId}`}>the other CA of this name</a></dd></>}
            <dt>Valid</dt><dd>{formatTime(c.notBefore)} – {formatTime(c.notAfter)}</dd>
            <dt>Longest certificate</dt><dd>{c.maxValidityDays} days</dd>
            <dt>Allowed domains</dt><dd>{c.allowedDomains.length ? c.allowedDomains.join(', ') : 'any'}</dd>
          </dl>
          <TextBlock id="ca-cert" label="CA certificate" text={c.certificatePem} />
          {c.chainPem && c.chainPem !== c.certificatePem && <TextBlock id="ca-chain" label="Chain to the root" text={c.chainPem} />}
          <h2>Revocation list</h2>
          <FormError message={crlLoad.error} />
          {!crl && (
            <Busy
              type="button"
              kind="plain"
              busy={crlLoad.busy}
              label="Show the current CRL"
              busyLabel="Loading…"
              onClick={async () => {
                const text = await crlLoad.run(() => apiText(`/cas/${c.id}/crl?format=pem`));
                if (text) setCrl(text);
              }}
            />
          )}
          {crl && <TextBlock id="ca-crl" label="CRL" text={crl} />}
          {write && <IssueForm ca={c} onIssued={() => { setCursor(null); setReload(reload + 1); setCrl(null); }} />}
          <h2>Issued certificates</h2>
          <FormError message={certificates.error} />
          {certificates.data && certificates.data.data.length === 0 && <p>None yet.</p>}
          {certificates.data && certificates.data.data.length > 0 && (
            <TableWrap label="Issued certificates">
              <table>
                <caption class="visually-hidden">Certificates issued by {c.name}</caption>
                <thead><tr><th scope="col">Serial</th><th scope="col">Subject</th><th scope="col">Profile</th><th scope="col">Expires</th><th scope="col">State</th>{write && <th scope="col"><span class="visually-hidden">Actions</span></th>}</tr></thead>
                <tbody>
                  {certificates.data.data.map((cert) => (
                    <tr key={cert.id}>
                      <th scope="row"><code>{cert.serialNumber}</code></th>
                      <td><code>{cert.subject}</code>{cert.sans.length > 0 && <div class="hint">{cert.sans.join(', ')}</div>}</td>
                      <td>{cert.profile}</td>
                      <td>{formatTime(cert.notAfter)}</td>
                      <td>{cert.revoked ? `revoked (${cert.revocationReason ?? 'unspecified'})` : 'valid'}</td>
                      {write && <td>{!cert.revoked && <RevokeButton certificate={cert} onRevoked={() => { setReload(reload + 1); setCrl(null); }} />}</td>}
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
