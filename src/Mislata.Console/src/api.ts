// The public API, called like any client: /api/v1 through the gateway with the signed-in user's access token.
// Every failure is an ApiError carrying the RFC 9457 problem details the API answers with.
import { accessToken, signIn } from './auth';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly detail: string,
    readonly fieldErrors: Record<string, string[]> = {},
    readonly retryAfter?: number,
  ) {
    super(detail);
  }
}

export interface Page<T> {
  data: T[];
  nextCursor: string | null;
}

type Query = Record<string, string | number | boolean | undefined | null>;

export function withQuery(path: string, query: Query = {}): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== '') params.set(name, String(value));
  }

  const text = params.toString();
  return text ? `${path}?${text}` : path;
}

export async function api<T>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<T> {
  const token = await accessToken();
  if (!token) {
    return signIn(window.location.pathname + window.location.search);
  }

  let response: Response;
  try {
    response = await fetch('/api/v1' + path, {
      method,
      headers: {
        Authorization: `Bearer ${token}`,
        Accept: 'application/json',
        ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
        ...headers,
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'omit',
    });
  } catch {
    throw new ApiError(0, 'unavailable', 'The Mislata service cannot be reached. Check your connection and try again.');
  }

  if (response.status === 401) {
    return signIn(window.location.pathname + window.location.search);
  }

  if (response.status === 204) {
    return undefined as T;
  }

  const type = response.headers.get('Content-Type') ?? '';
  const payload: unknown = type.includes('json') ? await response.json().catch(() => null) : null;
  if (!response.ok) {
    throw problemOf(response, payload);
  }

  return payload as T;
}

/** A GET whose answer is text (a PEM CRL), with the same credentials and errors as api(). */
export async function apiText(path: string): Promise<string> {
  const token = await accessToken();
  if (!token) {
    return signIn(window.location.pathname + window.location.search);
  }

  let response: Response;
  try {
    response = await fetch('/api/v1' + path, { headers: { Authorization: `Bearer ${token}` }, credentials: 'omit' });
  } catch {
    throw new ApiError(0, 'unavailable', 'The Mislata service cannot be reached. Check your connection and try again.');
  }

  if (response.status === 401) {
    return signIn(window.location.pathname + window.location.search);
  }

  if (!response.ok) {
    throw problemOf(response, await response.json().catch(() => null));
  }

  return response.text();
}

function problemOf(response: Response, payload: unknown): ApiError {
  const problem = (payload ?? {}) as { error?: string; detail?: string; title?: string; errors?: Record<string, string[]> };
  const retry = Number(response.headers.get('Retry-After'));
  return new ApiError(
    response.status,
    problem.error ?? 'unknown',
    problem.detail ?? problem.title ?? `The service answered ${response.status}.`,
    normaliseFieldErrors(problem.errors),
    Number.isFinite(retry) && retry > 0 ? retry : undefined,
  );
}

/** Problem details name fields as the API does (camelCase, maybe `items[0].plaintext`); forms look them up lower-cased. */
function normaliseFieldErrors(errors?: Record<string, string[]>): Record<string, string[]> {
  const result: Record<string, string[]> = {};
  for (const [field, messages] of Object.entries(errors ?? {})) {
    result[field.replace(/^\$\./, '').toLowerCase()] = messages;
  }

  return result;
}

/** A human sentence for an error, for a form-level alert. */
export function describe(error: unknown): string {
  if (error instanceof ApiError) {
    const retry = error.retryAfter ? ` Try again in ${error.retryAfter} s.` : '';
    return `${error.detail}${retry}`;
  }

  return error instanceof Error ? error.message : 'Something went wrong.';
}
