import { ReactNode, useEffect, useId, useRef, useState } from 'react';
import { ApiError } from '../api/client';
import styles from './ui.module.css';

type ButtonProps = React.ButtonHTMLAttributes<HTMLButtonElement> & { variant?: 'primary' | 'secondary' | 'danger'; small?: boolean };

export function Button({ variant = 'primary', small, className, type = 'button', ...rest }: ButtonProps) {
  const cls = [styles.button, variant !== 'primary' && styles[variant], small && styles.small, className].filter(Boolean).join(' ');
  return <button type={type} className={cls} {...rest} />;
}

export function Badge({ value, label }: { value: string; label?: string }) {
  return <span className={`${styles.badge} ${styles[value] ?? ''}`}>{label ?? value}</span>;
}

/** Loading, error and empty states of a query, in one place. */
export function QueryState({
  loading,
  error,
  empty,
  emptyText,
  children,
}: {
  loading: boolean;
  error: unknown;
  empty?: boolean;
  emptyText?: string;
  children?: ReactNode;
}) {
  if (loading) return <p className={styles.state} role="status">Loading…</p>;
  if (error) return <ErrorBox error={error} />;
  if (empty) return <p className={styles.state}>{emptyText ?? 'Nothing here yet.'}</p>;
  return <>{children}</>;
}

export function ErrorBox({ error }: { error: unknown }) {
  if (!error) return null;
  const e = error as ApiError;
  return (
    <div className={styles.error} role="alert">
      <strong>{e.title ?? 'Error'}</strong>
      {e.detail || e.message ? `: ${e.detail ?? e.message}` : null}
      {e.errors?.length ? (
        <ul>
          {e.errors.map((x) => (
            <li key={x.path}>
              <code>{x.path}</code> {x.message}
            </li>
          ))}
        </ul>
      ) : null}
    </div>
  );
}

export function Notice({ children }: { children: ReactNode }) {
  return (
    <div className={styles.notice} role="status">
      {children}
    </div>
  );
}

type FieldProps = {
  label: string;
  error?: string;
  hint?: string;
  children: (props: { id: string; 'aria-invalid': boolean; 'aria-describedby'?: string }) => ReactNode;
};

/** A labelled control with its hint and its error (client-side or the API's). */
export function Field({ label, error, hint, children }: FieldProps) {
  const id = useId();
  const describedBy = [hint && `${id}-hint`, error && `${id}-error`].filter(Boolean).join(' ') || undefined;
  return (
    <div className={styles.field}>
      <label htmlFor={id}>{label}</label>
      {children({ id, 'aria-invalid': Boolean(error), 'aria-describedby': describedBy })}
      {hint && (
        <span id={`${id}-hint`} className={styles.hint}>
          {hint}
        </span>
      )}
      {error && (
        <span id={`${id}-error`} className={styles.fieldError}>
          {error}
        </span>
      )}
    </div>
  );
}

/** A modal pop-up on the native `<dialog>`: focus kept inside, Escape closes it. */
export function Dialog({
  title,
  open,
  onClose,
  children,
  footer,
}: {
  title: string;
  open: boolean;
  onClose: () => void;
  children: ReactNode;
  footer?: ReactNode;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (open && !d.open) {
      d.showModal();
      // Focus the first field (else the first button), so typing starts where the form does.
      const first = d.querySelector<HTMLElement>('input:not([type=hidden]), select, textarea') ?? d.querySelector<HTMLElement>('button');
      first?.focus();
    }
    if (!open && d.open) d.close();
  }, [open]);
  return (
    <dialog ref={ref} aria-labelledby={titleId} onClose={onClose} onCancel={onClose}>
      {open && (
        <>
          <div className={styles.dialogHead}>
            <h2 id={titleId}>{title}</h2>
          </div>
          <div className={styles.dialogBody}>{children}</div>
          {footer && <div className={styles.dialogFoot}>{footer}</div>}
        </>
      )}
    </dialog>
  );
}

/** A button that opens a small menu of choices (keyboard: Enter opens, arrows move, Escape closes). */
export function MenuButton({ label, items }: { label: string; items: { label: string; onSelect: () => void }[] }) {
  const [open, setOpen] = useState(false);
  const listRef = useRef<HTMLUListElement>(null);
  const menuId = useId();
  useEffect(() => {
    if (open) listRef.current?.querySelector('button')?.focus();
  }, [open]);
  const onKey = (e: React.KeyboardEvent) => {
    const buttons = [...(listRef.current?.querySelectorAll('button') ?? [])];
    const i = buttons.indexOf(document.activeElement as HTMLButtonElement);
    if (e.key === 'Escape') setOpen(false);
    if (e.key === 'ArrowDown') (buttons[i + 1] ?? buttons[0])?.focus();
    if (e.key === 'ArrowUp') (buttons[i - 1] ?? buttons[buttons.length - 1])?.focus();
  };
  return (
    <div className={styles.menu} onKeyDown={onKey}>
      <Button aria-haspopup="menu" aria-expanded={open} aria-controls={menuId} onClick={() => setOpen((o) => !o)}>
        {label} ▾
      </Button>
      {open && (
        <ul id={menuId} ref={listRef} role="menu" className={styles.menuList}>
          {items.map((item) => (
            <li key={item.label} role="none">
              <button
                role="menuitem"
                type="button"
                onClick={() => {
                  setOpen(false);
                  item.onSelect();
                }}
              >
                {item.label}
              </button>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

export { styles as ui };
