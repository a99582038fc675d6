// Shapes of the API's answers the console reads (docs/api.md); more fields may come, none renamed.

export interface KeyVersion { version: number; state: string; createdAt: string; lastUsedAt?: string | null }

export interface Key {
  id: string; name: string; algorithm: string; type: string; state: string; currentVersion: number; minDecryptionVersion: number;
  versions: KeyVersion[]; isDefault: boolean; tags: string[]; description?: string | null; rotationPeriodDays?: number | null;
  nextRotationAt?: string | null; deletionDate?: string | null; createdAt: string; updatedAt: string; origin?: string | null;
  operations?: string[] | null;
}

export interface UsageFigure { used: number | null; limit: number | null }

export interface Usage {
  tenantId: string; plan: string; periodStart: string; periodEnd: string; operations: UsageFigure; apiKeys: UsageFigure;
  keys: UsageFigure; secrets: UsageFigure; users: UsageFigure; requestsPerMinute?: number | null;
}

export interface AuditEvent {
  id: string; tenantId?: string | null; sequence: number; time: string; actorType: string; actorId: string; action: string;
  resourceType?: string | null; resourceId?: string | null; outcome: string; errorCode?: string | null; sourceIp?: string | null;
  requestId?: string | null;
}

export interface Secret {
  id: string; name: string; description?: string | null; labels: string[]; contentType?: string | null; expiresAt?: string | null;
  currentVersion: number; state: string; deletedAt?: string | null; purgeAt?: string | null; createdAt: string; updatedAt: string;
}

export interface SecretValue extends Secret { version: number; value: string; encoding: string; versionCreatedAt: string }

export interface SecretVersion { version: number; createdAt: string; createdBy?: string | null; current: boolean }

export interface ApiKey {
  id: string; prefix: string; name: string; scopes: string[]; expiresAt?: string | null; ipAllowlist: string[];
  rateLimitPerMinute?: number | null; createdAt: string; revokedAt?: string | null; status?: string | null;
}

export interface CreatedApiKey extends ApiKey { key: string }

/** What each algorithm is for, in words, for the create form (API.md "Algorithms"). */
export const ALGORITHMS: { name: string; kind: string; explain: string }[] = [
  { name: 'ML-KEM-768', kind: 'encryption', explain: 'Post-quantum key encapsulation (FIPS 203), the default for encryption: encrypt, decrypt, data keys, rewrap.' },
  { name: 'ML-KEM-512', kind: 'encryption', explain: 'Post-quantum encryption, smaller and faster, NIST security category 1.' },
  { name: 'ML-KEM-1024', kind: 'encryption', explain: 'Post-quantum encryption at NIST security category 5.' },
  { name: 'AES-256-GCM', kind: 'symmetric', explain: 'Symmetric authenticated encryption; the key never leaves the service. Encrypt, decrypt, data keys, rewrap.' },
  { name: 'RSA-3072', kind: 'encryption', explain: 'Classical RSA-OAEP-SHA256 encryption (or RSA-PSS signing when created as a signing key).' },
  { name: 'RSA-2048', kind: 'encryption', explain: 'Classical RSA, for compatibility with existing systems.' },
  { name: 'RSA-4096', kind: 'encryption', explain: 'Classical RSA with a larger modulus; slow to create.' },
  { name: 'ML-DSA-65', kind: 'signing', explain: 'Post-quantum signatures (FIPS 204), the default for signing: sign and verify.' },
  { name: 'ML-DSA-44', kind: 'signing', explain: 'Post-quantum signatures at NIST security category 2.' },
  { name: 'ML-DSA-87', kind: 'signing', explain: 'Post-quantum signatures at NIST security category 5.' },
  { name: 'SLH-DSA-SHA2-128s', kind: 'signing', explain: 'Stateless hash-based signatures (FIPS 205): small signatures, slow to sign.' },
  { name: 'SLH-DSA-SHA2-128f', kind: 'signing', explain: 'Stateless hash-based signatures (FIPS 205): faster signing, larger signatures.' },
  { name: 'ECDSA-P256', kind: 'signing', explain: 'Classical elliptic-curve signatures on P-256.' },
  { name: 'ECDSA-P384', kind: 'signing', explain: 'Classical elliptic-curve signatures on P-384.' },
  { name: 'Ed25519', kind: 'signing', explain: 'Classical Edwards-curve signatures, fast and compact.' },
  { name: 'HMAC-SHA256', kind: 'hmac', explain: 'Message authentication codes: hmac and hmac/verify.' },
  { name: 'HMAC-SHA512', kind: 'hmac', explain: 'Message authentication codes with SHA-512.' },
];

/** Signing algorithms a certificate authority or a generated certificate key may use (Keys' signing algorithms). */
export const CA_ALGORITHMS = ALGORITHMS.filter((a) => a.kind === 'signing' || a.name.startsWith('RSA-'));

/** RFC 5280 revocation reasons, as the API names them. */
export const REVOCATION_REASONS = [
  'unspecified', 'keyCompromise', 'cACompromise', 'affiliationChanged', 'superseded', 'cessationOfOperation', 'privilegeWithdrawn', 'aACompromise',
];

export interface CertificateAuthority {
  id: string;
  name: string;
  algorithm: string;
  subject: string;
  serialNumber: string;
  notBefore: string;
  notAfter: string;
  parentId: string | null;
  pathLength: number | null;
  keyId: string;
  maxValidityDays: number;
  allowedDomains: string[];
  companionId: string | null;
  certificatePem: string;
  chainPem: string;
  createdAt: string;
}

export interface IssuedCertificate {
  id: string;
  caId: string;
  serialNumber: string;
  subject: string;
  profile: string;
  sans: string[];
  keyAlgorithm: string;
  keyGenerated: boolean;
  notBefore: string;
  notAfter: string;
  revoked: boolean;
  revokedAt: string | null;
  revocationReason: string | null;
  pairId: string | null;
  certificatePem: string;
  chainPem: string | null;
  privateKeyPem: string | null;
  companion: IssuedCertificate | null;
  createdAt: string;
}

export interface SshCa {
  id: string;
  name: string;
  algorithm: string;
  keyId: string;
  keyState: string;
  publicKey: string | null;
  fingerprint: string | null;
  authorizedKeysLine: string | null;
  knownHostsLine: string | null;
  maxUserValiditySeconds: number;
  maxHostValiditySeconds: number;
  allowedPrincipals: string[];
  createdAt: string;
}

export interface SshCertificate {
  id: string;
  caId: string;
  serial: number;
  type: string;
  keyId: string;
  principals: string[];
  validAfter: string;
  validBefore: string;
  criticalOptions: string[];
  extensions: string[];
  subjectKeyType: string;
  subjectFingerprint: string;
  issuedAt: string;
  certificate: string | null;
}
