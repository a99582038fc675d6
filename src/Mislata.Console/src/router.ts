// A small history router under /console/: links are ordinary anchors (keyboard and screen-reader friendly) that
// this module intercepts; after each navigation the new view's heading takes the focus.
import { useEffect, useState } from 'preact/hooks';

export const BASE = '/console';

type Listener = () => void;
const listeners = new Set<Listener>();

export function navigate(to: string, replace = false): void {
  const url = to.startsWith(BASE) ? to : BASE + to;
  if (replace) window.history.replaceState(null, '', url);
  else window.history.pushState(null, '', url);
  listeners.forEach((listener) => listener());
}

window.addEventListener('popstate', () => listeners.forEach((listener) => listener()));

document.addEventListener('click', (event) => {
  const anchor = (event.target as HTMLElement | null)?.closest?.('a');
  if (!anchor || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || anchor.target) return;
  const href = anchor.getAttribute('href') ?? '';
  if (href.startsWith(BASE + '/') || href === BASE) {
    event.preventDefault();
    navigate(href);
  }
});

/** The path inside the console ("/keys/…"), re-rendering on every navigation. */
export function usePath(): string {
  const [path, setPath] = useState(currentPath());
  useEffect(() => {
    const listener = () => setPath(currentPath());
    listeners.add(listener);
    return () => {
      listeners.delete(listener);
    };
  }, []);
  return path;
}

export function currentPath(): string {
  const path = window.location.pathname.slice(BASE.length) || '/';
  return path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
}

export function useQueryParam(name: string): string | null {
  usePath();
  return new URLSearchParams(window.location.search).get(name);
}
