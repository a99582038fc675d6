// Verifies one ML-DSA signature (FIPS 204, pure, empty context) with @noble/post-quantum: an implementation independent
// of the BouncyCastle one Mislata signs with. The end-to-end tests extract, with their own DER reader, the public key of
// the issuing CA, the TBSCertificate/TBSCertList DER and the signature BIT STRING, and pass them here as hex files.
//
//   node verify-mldsa.mjs <ML-DSA-44|ML-DSA-65|ML-DSA-87> <public-key.hex> <message.hex> <signature.hex>
//   prints "valid" (exit 0) or "invalid: <reason>" (exit 1)
import { readFileSync } from 'node:fs';
import { ml_dsa44, ml_dsa65, ml_dsa87 } from '@noble/post-quantum/ml-dsa.js';

const fail = (reason) => { console.log(`invalid: ${reason}`); process.exit(1); };
const hex = (file) => new Uint8Array(Buffer.from(readFileSync(file, 'utf8').trim(), 'hex'));

const algorithms = { 'ML-DSA-44': ml_dsa44, 'ML-DSA-65': ml_dsa65, 'ML-DSA-87': ml_dsa87 };
const mldsa = algorithms[process.argv[2]];
if (!mldsa) fail(`unknown algorithm ${process.argv[2]}`);
const [publicKey, message, signature] = [hex(process.argv[3]), hex(process.argv[4]), hex(process.argv[5])];
if (publicKey.length !== mldsa.lengths.publicKey) fail(`the public key has ${publicKey.length} bytes`);
if (signature.length !== mldsa.lengths.signature) fail(`the signature has ${signature.length} bytes`);
if (!mldsa.verify(signature, message, publicKey)) fail('the signature does not verify');
console.log('valid');
