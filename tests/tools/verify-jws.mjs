// Verifies a compact JWS signed with ML-DSA-65 against the AKP key of a JWKS, with @noble/post-quantum: an
// implementation independent of the BouncyCastle one Mislata signs with. It builds the JWS signing input itself
// (the first two segments as sent, joined by "."), finds the key by the header's kid, and checks the key's kty/alg.
//
//   node verify-jws.mjs <jwks.json> <token-file>    prints "valid" (exit 0) or "invalid: <reason>" (exit 1)
import { readFileSync } from 'node:fs';
import { ml_dsa65 } from '@noble/post-quantum/ml-dsa.js';

const b64u = (s) => new Uint8Array(Buffer.from(s, 'base64url'));
const fail = (reason) => { console.log(`invalid: ${reason}`); process.exit(1); };

const jwks = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const token = readFileSync(process.argv[3], 'utf8').trim();
const parts = token.split('.');
if (parts.length !== 3) fail('not a compact JWS');
const header = JSON.parse(Buffer.from(parts[0], 'base64url').toString('utf8'));
if (header.alg !== 'ML-DSA-65') fail(`alg is ${header.alg}`);
const key = (jwks.keys || []).find((k) => k.kid === header.kid);
if (!key) fail(`no key ${header.kid} in the JWKS`);
if (key.kty !== 'AKP' || key.alg !== 'ML-DSA-65' || typeof key.pub !== 'string') fail('the key is not an AKP ML-DSA-65 key');
if ('priv' in key) fail('the JWKS publishes a private part');
const signingInput = new TextEncoder().encode(`${parts[0]}.${parts[1]}`);
const ok = ml_dsa65.verify(b64u(parts[2]), signingInput, b64u(key.pub));
if (!ok) fail('the signature does not verify');
console.log('valid');
