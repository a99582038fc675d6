// Sign-in with the identity service: OAuth 2.0 authorization code + PKCE (RFC 7636) as the public client
// `mislata-console`, registered by identity at bootstrap. Tokens live in this module's memory only — never in
// localStorage, sessionStorage or a cookie a script can read: a reload signs in again through the identity session
// (no password prompt while it lasts). Only the PKCE verifier, state and nonce of a sign-in in progress are kept in
// sessionStorage, for the one redirect; they are removed when the callback is handled.

export const CLIENT_ID = 'mislata-console';
const BASE = '/console/';
const PENDING = 'mislata-console.pending';

/** OIDC scopes plus every API scope: identity grants only those the user's roles allow. */
const REQUESTED_SCOPES = [
  'openid', 'profile', 'email', 'roles', 'offline_access',
  'keys:read', 'keys:write', 'encryption:write', 'secrets:read', 'secrets:write', 'apikeys:read', 'apikeys:write',
  'audit:read', 'billing:read', 'users:read', 'users:write', 'applications:read', 'roles:read',
  'certificates:read', 'certificates:write', 'ssh:read', 'ssh:write',
  'partner:admin', 'platform:admin',
];

export interface Session {
  accessToken: string;
  idToken: string;
  refreshToken?: string;
  expiresAt: number;
  scopes: Set<string>;
  user: { id: string; email: string; name: string; roles: string[]; tenantId?: string };
}

let session: Session | null = null;

export const currentSession = (): Session | null => session;

export const hasScope = (scope: string): boolean => session?.scopes.has(scope) ?? false;

function origin(): string {
  return window.location.origin;
}

export function redirectUri(): string {
  return origin() + BASE + 'callback';
}

function base64Url(bytes: Uint8Array): string {
  let text = '';
  for (const b of bytes) text += String.fromCharCode(b);
  return btoa(text).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function randomToken(bytes = 32): string {
  return base64Url(crypto.getRandomValues(new Uint8Array(bytes)));
}

async function challengeOf(verifier: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier));
  return base64Url(new Uint8Array(digest));
}

/** Leaves for identity's authorize endpoint; comes back to /console/callback and then to `returnTo`. */
export async function signIn(returnTo: string): Promise<never> {
  const verifier = randomToken(48);
  const state = randomToken();
  const nonce = randomToken();
  const safeReturn = returnTo.startsWith(BASE) && !returnTo.startsWith(BASE + 'callback') ? returnTo : BASE;
  sessionStorage.setItem(PENDING, JSON.stringify({ verifier, state, nonce, returnTo: safeReturn }));
  const query = new URLSearchParams({
    response_type: 'code',
    client_id: CLIENT_ID,
    redirect_uri: redirectUri(),
    scope: REQUESTED_SCOPES.join(' '),
    state,
    nonce,
    code_challenge: await challengeOf(verifier),
    code_challenge_method: 'S256',
  });
  window.location.assign('/connect/authorize?' + query.toString());
  return new Promise<never>(() => {});
}

interface TokenResponse {
  access_token: string;
  id_token?: string;
  refresh_token?: string;
  expires_in?: number;
  scope?: string;
}

function claimsOf(jwt: string): Record<string, unknown> {
  const part = jwt.split('.')[1] ?? '';
  const json = atob(part.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(part.length / 4) * 4, '='));
  return JSON.parse(new TextDecoder().decode(Uint8Array.from(json, (c) => c.charCodeAt(0)))) as Record<string, unknown>;
}

function asList(value: unknown): string[] {
  return Array.isArray(value) ? value.map(String) : typeof value === 'string' ? [value] : [];
}

function accept(tokens: TokenResponse, expectedNonce?: string): Session {
  const idToken = tokens.id_token ?? session?.idToken ?? '';
  const claims = idToken ? claimsOf(idToken) : {};
  if (expectedNonce !== undefined && claims['nonce'] !== expectedNonce) {
    throw new Error('The sign-in answer does not belong to this sign-in (nonce mismatch).');
  }

  session = {
    accessToken: tokens.access_token,
    idToken,
    refreshToken: tokens.refresh_token ?? session?.refreshToken,
    expiresAt: Date.now() + (tokens.expires_in ?? 300) * 1000,
    scopes: new Set((tokens.scope ?? '').split(' ').filter(Boolean)),
    user: {
      id: String(claims['sub'] ?? ''),
      email: String(claims['email'] ?? claims['name'] ?? ''),
      name: String(claims['name'] ?? claims['email'] ?? ''),
      roles: asList(claims['role']),
      tenantId: claims['tenant_id'] ? String(claims['tenant_id']) : undefined,
    },
  };
  return session;
}

async function tokenRequest(form: Record<string, string>): Promise<TokenResponse> {
  const response = await fetch('/connect/token', {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(form).toString(),
    credentials: 'omit',
  });
  const body = (await response.json().catch(() => ({}))) as TokenResponse & { error?: string; error_description?: string };
  if (!response.ok) {
    throw new Error(body.error_description || body.error || `The token endpoint answered ${response.status}.`);
  }

  return body;
}

/** Handles /console/callback: checks state, redeems the code with the PKCE verifier; returns where to go next. */
export async function completeSignIn(): Promise<string> {
  const params = new URLSearchParams(window.location.search);
  const pending = JSON.parse(sessionStorage.getItem(PENDING) ?? 'null') as
    | { verifier: string; state: string; nonce: string; returnTo: string }
    | null;
  sessionStorage.removeItem(PENDING);
  if (params.get('error')) {
    throw new Error(params.get('error_description') || params.get('error') || 'Sign-in was refused.');
  }

  if (!pending || params.get('state') !== pending.state || !params.get('code')) {
    throw new Error('This sign-in answer was not expected (it may be stale or forged). Sign in again.');
  }

  const tokens = await tokenRequest({
    grant_type: 'authorization_code',
    client_id: CLIENT_ID,
    code: params.get('code')!,
    redirect_uri: redirectUri(),
    code_verifier: pending.verifier,
  });
  accept(tokens, pending.nonce);
  return pending.returnTo;
}

/** A valid access token: refreshed (rotating refresh token) shortly before it expires; null when signed out. */
export async function accessToken(): Promise<string | null> {
  if (!session) return null;
  if (Date.now() < session.expiresAt - 30_000) return session.accessToken;
  if (!session.refreshToken) return session.accessToken;
  try {
    accept(await tokenRequest({ grant_type: 'refresh_token', client_id: CLIENT_ID, refresh_token: session.refreshToken }));
  } catch {
    session = null;
    return null;
  }

  return session?.accessToken ?? null;
}

/** Revokes the refresh token, forgets every token and ends the identity session (RP-initiated logout). */
export async function signOut(): Promise<never> {
  const current = session;
  session = null;
  if (current?.refreshToken) {
    await fetch('/connect/revoke', {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ client_id: CLIENT_ID, token: current.refreshToken, token_type_hint: 'refresh_token' }).toString(),
      credentials: 'omit',
    }).catch(() => undefined);
  }

  const query = new URLSearchParams({ client_id: CLIENT_ID, post_logout_redirect_uri: origin() + BASE });
  if (current?.idToken) query.set('id_token_hint', current.idToken);
  window.location.assign('/connect/endsession?' + query.toString());
  return new Promise<never>(() => {});
}
