import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { completeSignIn, currentSession, hasScope, signIn, signOut } from './auth';
import { navigate, usePath } from './router';
import './styles.css';
import { ApiKeys } from './views/ApiKeys';
import { CaCreate, CaDetail, CaList } from './views/Certificates';
import { Audit } from './views/Audit';
import { Dashboard } from './views/Dashboard';
import { KeyCreate, KeyDetail, KeyList } from './views/Keys';
import { Platform, Tenants } from './views/Operator';
import { Partners, Plans } from './views/Plans';
import { Playground } from './views/Playground';
import { SecretCreate, SecretDetail, SecretList } from './views/Secrets';
import { SshCaDetail, SshCaList } from './views/Ssh';
import { Users } from './views/Users';
import { View } from './ui';

interface NavItem { href: string; label: string; scope: string }

const TENANT_NAV: NavItem[] = [
  { href: '/console/', label: 'Dashboard', scope: '' },
  { href: '/console/keys', label: 'Keys', scope: 'keys:read' },
  { href: '/console/playground', label: 'Playground', scope: 'encryption:write' },
  { href: '/console/secrets', label: 'Secrets', scope: 'secrets:read' },
  { href: '/console/cas', label: 'Certificates', scope: 'certificates:read' },
  { href: '/console/ssh', label: 'SSH', scope: 'ssh:read' },
  { href: '/console/api-keys', label: 'API keys', scope: 'apikeys:read' },
  { href: '/console/users', label: 'Users', scope: 'users:read' },
  { href: '/console/audit', label: 'Audit', scope: 'audit:read' },
];

const OPERATOR_NAV: NavItem[] = [
  { href: '/console/tenants', label: 'Tenants', scope: 'platform:admin' },
  { href: '/console/plans', label: 'Plans', scope: 'platform:admin' },
  { href: '/console/partners', label: 'Partners', scope: 'platform:admin' },
  { href: '/console/platform', label: 'Platform', scope: 'platform:admin' },
];

type Theme = 'light' | 'dark' | 'system';

function applyTheme(theme: Theme) {
  if (theme === 'system') document.documentElement.removeAttribute('data-theme');
  else document.documentElement.setAttribute('data-theme', theme);
}

function route(path: string) {
  const segments = path.split('/').filter(Boolean);
  const operator = hasScope('platform:admin');
  switch (segments[0]) {
    case undefined: return operator && !currentSession()?.user.tenantId ? <Tenants /> : <Dashboard />;
    case 'keys': return segments[1] === 'new' ? <KeyCreate /> : segments[1] ? <KeyDetail id={segments[1]} /> : <KeyList />;
    case 'playground': return <Playground />;
    case 'secrets': return segments[1] === 'new' ? <SecretCreate /> : segments[1] ? <SecretDetail id={segments[1]} /> : <SecretList />;
    case 'cas': return segments[1] === 'new' ? <CaCreate /> : segments[1] ? <CaDetail id={segments[1]} /> : <CaList />;
    case 'ssh': return segments[1] ? <SshCaDetail id={segments[1]} /> : <SshCaList />;
    case 'api-keys': return <ApiKeys />;
    case 'users': return <Users />;
    case 'audit': return <Audit />;
    case 'tenants': return <Tenants />;
    case 'plans': return <Plans />;
    case 'partners': return <Partners />;
    case 'platform': return <Platform />;
    default: return <View title="Not found"><p>There is no such page. <a href="/console/">Go to the dashboard</a>.</p></View>;
  }
}

function App() {
  const path = usePath();
  const session = currentSession()!;
  const [theme, setTheme] = useState<Theme>((localStorage.getItem('mislata-console.theme') as Theme | null) ?? 'system');
  const [menuOpen, setMenuOpen] = useState(false);
  useEffect(() => {
    applyTheme(theme);
    localStorage.setItem('mislata-console.theme', theme);
  }, [theme]);
  useEffect(() => setMenuOpen(false), [path]);
  const isTenant = Boolean(session.user.tenantId);
  const nav = [...(isTenant ? TENANT_NAV : []), ...OPERATOR_NAV].filter((item) => !item.scope || hasScope(item.scope));
  const current = '/console' + (path === '/' ? '/' : path);

  return (
    <>
      <a class="skip-link" href="#main">Skip to content</a>
      <header class="topbar">
        <a class="brand" href="/console/">Mislata</a>
        <button type="button" class="btn btn-plain menu-toggle" aria-expanded={menuOpen} aria-controls="primary-nav" onClick={() => setMenuOpen(!menuOpen)}>Menu</button>
        <div class="account">
          <label class="theme">
            <span class="visually-hidden">Theme</span>
            <select value={theme} onChange={(e) => setTheme(e.currentTarget.value as Theme)}>
              <option value="system">System theme</option>
              <option value="light">Light</option>
              <option value="dark">Dark</option>
            </select>
          </label>
          <span class="who" title={session.user.roles.join(', ')}>{session.user.email}</span>
          <button type="button" class="btn btn-plain" onClick={() => void signOut()}>Sign out</button>
        </div>
      </header>
      <div class="layout">
        <nav id="primary-nav" class={menuOpen ? 'open' : ''} aria-label="Console">
          <ul>
            {nav.map((item) => {
              const active = item.href === '/console/' ? current === '/console/' : current.startsWith(item.href);
              return (
                <li key={item.href}>
                  <a href={item.href} aria-current={active ? 'page' : undefined}>{item.label}</a>
                </li>
              );
            })}
          </ul>
        </nav>
        <main id="main" tabIndex={-1}>{route(path)}</main>
      </div>
    </>
  );
}

function Failure(props: { message: string }) {
  return (
    <main id="main" class="signin-failed">
      <h1>Sign-in did not complete</h1>
      <p role="alert">{props.message}</p>
      <button type="button" class="btn btn-primary" onClick={() => void signIn('/console/')}>Sign in again</button>
    </main>
  );
}

async function start() {
  const root = document.getElementById('app')!;
  applyTheme((localStorage.getItem('mislata-console.theme') as Theme | null) ?? 'system');
  if (window.location.pathname === '/console/callback') {
    try {
      const next = await completeSignIn();
      navigate(next, true);
    } catch (e) {
      render(<Failure message={e instanceof Error ? e.message : 'Sign-in failed.'} />, root);
      return;
    }
  }

  if (!currentSession()) {
    await signIn(window.location.pathname + window.location.search);
    return;
  }

  root.textContent = '';
  render(<App />, root);
}

void start();
