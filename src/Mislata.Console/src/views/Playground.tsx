import { useState } from 'preact/hooks';
import { api, type Page } from '../api';
import type { Key } from '../model';
import { useQueryParam } from '../router';
import { Busy, Field, FormError, Loading, View, useLoad, useSubmission } from '../ui';

type Operation = 'encrypt' | 'decrypt' | 'sign' | 'verify';

const LABELS: Record<Operation, string> = { encrypt: 'Encrypt', decrypt: 'Decrypt', sign: 'Sign', verify: 'Verify' };

/** Encrypt, decrypt, sign and verify a text with one of the tenant's keys, through the same API applications use. */
export function Playground() {
  const preselected = useQueryParam('key');
  const keys = useLoad(() => api<Page<Key>>('GET', '/keys?state=enabled&limit=100'), []);
  const [keyId, setKeyId] = useState<string>(preselected ?? '');
  const [operation, setOperation] = useState<Operation>('encrypt');
  const [input, setInput] = useState('');
  const [context, setContext] = useState('');
  const [signature, setSignature] = useState('');
  const [output, setOutput] = useState<{ label: string; value: string } | null>(null);
  const submission = useSubmission();
  const key = keys.data?.data.find((k) => k.id === keyId) ?? keys.data?.data[0];
  const ops = (key?.operations ?? []) as string[];
  const available = (Object.keys(LABELS) as Operation[]).filter((o) => ops.length === 0 || ops.includes(o));
  const current = available.includes(operation) ? operation : (available[0] ?? 'encrypt');

  async function run() {
    if (!key) return;
    const ctx = context || undefined;
    const result = await submission.run(async () => {
      switch (current) {
        case 'encrypt': {
          const r = await api<{ encryptedPayload: string; keyVersion: number }>('POST', '/encrypt', { keyId: key.id, plaintext: input, context: ctx });
          return { label: `Encrypted payload (version ${r.keyVersion})`, value: r.encryptedPayload };
        }
        case 'decrypt': {
          const r = await api<{ plaintext: string; keyVersion: number }>('POST', '/decrypt', { encryptedPayload: input.trim(), context: ctx });
          return { label: `Plaintext (version ${r.keyVersion})`, value: r.plaintext };
        }
        case 'sign': {
          const r = await api<{ signature: string; keyVersion: number }>('POST', '/sign', { keyId: key.id, message: input, context: ctx });
          return { label: `Signature (version ${r.keyVersion})`, value: r.signature };
        }
        case 'verify': {
          const r = await api<{ valid: boolean }>('POST', '/verify', { keyId: key.id, message: input, signature: signature.trim(), context: ctx });
          return { label: 'Verification', value: r.valid ? 'Valid signature' : 'Invalid signature' };
        }
      }
    });
    if (result) setOutput(result);
  }

  return (
    <View title="Playground">
      <p class="muted">Runs the operation through the public API with your session: it is audited like any other call and counts against your plan.</p>
      <FormError message={keys.error} />
      {!keys.data && !keys.error && <Loading what="keys" />}
      {keys.data && keys.data.data.length === 0 && <p>There is no enabled key yet. <a href="/console/keys/new">Create one</a>.</p>}
      {key && (
        <form
          class="form"
          noValidate
          onSubmit={(e) => {
            e.preventDefault();
            void run();
          }}
        >
          <FormError message={submission.error} />
          <Field id="key" label="Key">
            {(d) => (
              <select id="key" value={key.id} aria-describedby={d} onChange={(e) => { setKeyId(e.currentTarget.value); setOutput(null); }}>
                {keys.data!.data.map((k) => <option key={k.id} value={k.id}>{k.name} — {k.algorithm}</option>)}
              </select>
            )}
          </Field>
          <fieldset class="choices">
            <legend>Operation</legend>
            {available.map((o) => (
              <label key={o} class="choice">
                <input type="radio" name="operation" value={o} checked={current === o} onChange={() => { setOperation(o); setOutput(null); }} />
                {LABELS[o]}
              </label>
            ))}
          </fieldset>
          <Field id="input" label={current === 'decrypt' ? 'Encrypted payload' : current === 'encrypt' ? 'Plaintext' : 'Message'} errors={submission.fields} errorKey={current === 'decrypt' ? 'encryptedPayload' : current === 'encrypt' ? 'plaintext' : 'message'}>
            {(d, invalid) => <textarea id="input" rows={4} value={input} aria-describedby={d} aria-invalid={invalid} onInput={(e) => setInput(e.currentTarget.value)} />}
          </Field>
          {current === 'verify' && (
            <Field id="signature" label="Signature (base64)" errors={submission.fields}>
              {(d, invalid) => <textarea id="signature" rows={3} value={signature} aria-describedby={d} aria-invalid={invalid} onInput={(e) => setSignature(e.currentTarget.value)} />}
            </Field>
          )}
          <Field id="context" label="Context (optional)" hint="Associated data: it must be given again to decrypt or verify." errors={submission.fields}>
            {(d, invalid) => <input id="context" value={context} aria-describedby={d} aria-invalid={invalid} onInput={(e) => setContext(e.currentTarget.value)} />}
          </Field>
          <div class="form-actions">
            <Busy busy={submission.busy} label={LABELS[current]} busyLabel="Working…" />
          </div>
        </form>
      )}
      {output && (
        <section class="card result" aria-live="polite" aria-labelledby="result-title">
          <h2 id="result-title">{output.label}</h2>
          <pre id="result-value" tabIndex={0}>{output.value}</pre>
          {(current === 'encrypt' || current === 'sign') && (
            <button
              type="button"
              class="btn btn-plain"
              onClick={() => {
                if (current === 'encrypt') { setInput(output.value); setOperation('decrypt'); }
                else { setSignature(output.value); setOperation('verify'); }
                setOutput(null);
              }}
            >
              {current === 'encrypt' ? 'Decrypt this payload' : 'Verify this signature'}
            </button>
          )}
        </section>
      )}
    </View>
  );
}
