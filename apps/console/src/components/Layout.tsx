import { ReactNode } from 'react';
import { navigate, useLocation } from '../lib/router';
import { useSession } from '../session';
import styles from './layout.module.css';

const LINKS: [string, string][] = [
  ['/', 'Dashboard'],
  ['/channels', 'Communication Channels'],
  ['/relationships', 'Relationships'],
  ['/transactions', 'Transactions'],
  ['/alerts', 'Alerts'],
  ['/settings', 'Settings'],
];

/** A link that changes the screen without reloading the page (and still opens in a new tab). */
export function Link({ to, children, ...rest }: { to: string; children: ReactNode } & React.AnchorHTMLAttributes<HTMLAnchorElement>) {
  return (
    <a
      href={to}
      onClick={(e) => {
        if (e.metaKey || e.ctrlKey || e.shiftKey || e.button !== 0) return;
        e.preventDefault();
        navigate(to);
      }}
      {...rest}
    >
      {children}
    </a>
  );
}

export function Layout({ children }: { children: ReactNode }) {
  const { org, signOut } = useSession();
  const { path } = useLocation();
  const current = (to: string) => (to === '/' ? path === '/' : path === to || path.startsWith(`${to}/`));
  return (
    <div className={styles.shell}>
      <a className={styles.skip} href="#main">
        Skip to content
      </a>
      <header className={styles.header}>
        <span className={styles.brand}>Waybill</span>
        <div className={styles.who}>
          <span data-testid="org-name">{org.name}</span>
          <span>
            key <code data-testid="key-prefix">{org.apiKey.prefix}…</code>
          </span>
          <button type="button" className={styles.signOut} onClick={signOut}>
            Sign out
          </button>
        </div>
      </header>
      <nav className={styles.nav} aria-label="Main">
        <ul>
          {LINKS.map(([to, label]) => (
            <li key={to}>
              <Link to={to} aria-current={current(to) ? 'page' : undefined}>
                {label}
              </Link>
            </li>
          ))}
        </ul>
      </nav>
      <main id="main" className={styles.main} tabIndex={-1}>
        {children}
      </main>
    </div>
  );
}
