// Shared building blocks: every field has a visible label and its errors are tied to it (aria-describedby,
// aria-invalid); a form's errors are announced (role="alert"); a busy button says so (aria-busy) and stays
// focusable; a view's heading receives focus after navigation.
import type { ComponentChildren, JSX } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, describe } from './api';

export function View(props: { title: string; actions?: ComponentChildren; children: ComponentChildren }) {
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    document.title = `${props.title} · Mislata console`;
    heading.current?.focus();
  }, [props.title]);
  return (
    <section class="view" aria-labelledby="view-title">
      <div class="view-head">
        <h1 id="view-title" tabIndex={-1} ref={heading}>
          {props.title}
        </h1>
        {props.actions && <div class="view-actions">{props.actions}</div>}
      </div>
      {props.children}
    </section>
  );
}

/** The state of one form submission: busy flag, a form-level message and field errors from problem details. */
export function useSubmission() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [fields, setFields] = useState<Record<string, string[]>>({});
  async function run<T>(action: () => Promise<T>): Promise<T | undefined> {
    setBusy(true);
    setError(null);
    setFields({});
    try {
      return await action();
    } catch (e) {
      setError(describe(e));
      if (e instanceof ApiError) setFields(e.fieldErrors);
      return undefined;
    } finally {
      setBusy(false);
    }
  }

  return { busy, error, fields, run, setError };
}

export function FormError(props: { message: string | null }) {
  return props.message ? (
    <div class="alert alert-error" role="alert">
      {props.message}
    </div>
  ) : null;
}

export function Notice(props: { children: ComponentChildren }) {
  return (
    <div class="alert alert-ok" role="status">
      {props.children}
    </div>
  );
}

interface FieldProps {
  id: string;
  label: string;
  hint?: string;
  errors?: Record<string, string[]>;
  errorKey?: string;
  children: (describedBy: string | undefined, invalid: boolean) => JSX.Element;
}

export function Field(props: FieldProps) {
  const messages = props.errors?.[(props.errorKey ?? props.id).toLowerCase()] ?? [];
  const hintId = props.hint ? `${props.id}-hint` : undefined;
  const errorId = messages.length ? `${props.id}-error` : undefined;
  const describedBy = [hintId, errorId].filter(Boolean).join(' ') || undefined;
  return (
    <div class={`field${messages.length ? ' field-invalid' : ''}`}>
      <label for={props.id}>{props.label}</label>
      {props.hint && (
        <p class="hint" id={hintId}>
          {props.hint}
        </p>
      )}
      {props.children(describedBy, messages.length > 0)}
      {messages.length > 0 && (
        <p class="field-error" id={errorId}>
          {messages.join(' ')}
        </p>
      )}
    </div>
  );
}

export function Busy(props: { busy: boolean; label: string; busyLabel: string; kind?: 'primary' | 'danger' | 'plain'; type?: 'submit' | 'button'; onClick?: () => void }) {
  return (
    <button
      type={props.type ?? 'submit'}
      class={`btn btn-${props.kind ?? 'primary'}`}
      aria-busy={props.busy}
      aria-disabled={props.busy}
      onClick={(e) => {
        if (props.busy) {
          e.preventDefault();
          return;
        }
        props.onClick?.();
      }}
    >
      {props.busy && <span class="spinner" aria-hidden="true" />}
      {props.busy ? props.busyLabel : props.label}
    </button>
  );
}

/** Loads data for a view; `reload` runs the loader again. */
export function useLoad<T>(loader: () => Promise<T>, deps: unknown[]) {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [version, setVersion] = useState(0);
  useEffect(() => {
    let live = true;
    setError(null);
    loader()
      .then((value) => live && setData(value))
      .catch((e) => live && setError(describe(e)));
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, version]);
  return { data, error, reload: () => setVersion((v) => v + 1) };
}

export function Loading(props: { what: string }) {
  return (
    <p class="loading" role="status">
      <span class="spinner" aria-hidden="true" /> Loading {props.what}…
    </p>
  );
}

export function CopyButton(props: { text: string; label: string }) {
  const [copied, setCopied] = useState(false);
  return (
    <button
      type="button"
      class="btn btn-plain"
      onClick={async () => {
        await navigator.clipboard?.writeText(props.text).catch(() => undefined);
        setCopied(true);
        window.setTimeout(() => setCopied(false), 2000);
      }}
    >
      {copied ? 'Copied' : props.label}
      <span class="visually-hidden" aria-live="polite">
        {copied ? ' — copied to the clipboard' : ''}
      </span>
    </button>
  );
}

/** A used/limit bar (null limit = unlimited), with the figures in text for every reader. */
export function UsageMeter(props: { label: string; used: number | null | undefined; limit: number | null | undefined }) {
  const used = props.used ?? 0;
  const share = props.limit ? Math.min(1, used / props.limit) : 0;
  const text = props.limit ? `${used.toLocaleString()} of ${props.limit.toLocaleString()}` : `${used.toLocaleString()} (no limit)`;
  return (
    <div class="usage">
      <div class="usage-head">
        <span>{props.label}</span>
        <span>{text}</span>
      </div>
      {props.limit ? (
        <div class="usage-bar" role="meter" aria-label={props.label} aria-valuemin={0} aria-valuemax={props.limit} aria-valuenow={used} aria-valuetext={text}>
          <svg viewBox="0 0 100 8" preserveAspectRatio="none" aria-hidden="true" focusable="false">
            <rect class="usage-track" x="0" y="0" width="100" height="8" rx="4" />
            <rect class={share > 0.9 ? 'usage-fill usage-high' : 'usage-fill'} x="0" y="0" width={Math.max(share * 100, used > 0 ? 1 : 0)} height="8" rx="4" />
          </svg>
        </div>
      ) : null}
    </div>
  );
}

export function formatTime(value: string | null | undefined): string {
  if (!value) return '—';
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? value : date.toLocaleString();
}

export function StateBadge(props: { state: string }) {
  return <span class={`badge badge-${props.state.toLowerCase()}`}>{props.state}</span>;
}

/** A table that may scroll sideways on a narrow screen: a named, focusable region so the keyboard can scroll it. */
export function TableWrap(props: { label: string; children: ComponentChildren }) {
  return (
    <div class="table-wrap" role="region" aria-label={props.label} tabIndex={0}>
      {props.children}
    </div>
  );
}

/** "Next page" of a cursor-paged list, when the API said there is one. */
export function NextPage(props: { cursor: string | null | undefined; onNext: (cursor: string) => void; label?: string }) {
  const cursor = props.cursor;
  return cursor ? (
    <button type="button" class="btn btn-plain" onClick={() => props.onNext(cursor)}>
      {props.label ?? 'Next page'}
    </button>
  ) : null;
}

/** A block of text to copy (a PEM, an OpenSSH line) under its own heading, with a copy button and an optional hint. */
export function TextBlock(props: { id: string; label: string; text: string; hint?: string }) {
  return (
    <div class="pem">
      <div class="pem-head">
        <h3 id={`${props.id}-label`}>{props.label}</h3>
        <CopyButton text={props.text} label={`Copy ${props.label.toLowerCase()}`} />
      </div>
      {props.hint && <p class="hint">{props.hint}</p>}
      <pre tabIndex={0} aria-labelledby={`${props.id}-label`}>{props.text}</pre>
    </div>
  );
}
