import { FormEvent, useState } from 'react';
import { ApiError } from '../api/client';
import { Button, ErrorBox, Field } from '../components/ui';
import { useSignIn } from '../session';
import styles from './signin.module.css';

/** Sign-in with an API key: kept for this tab's session only. */
export function SignIn() {
  const { signIn, restoring } = useSignIn();
  const [key, setKey] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await signIn(key.trim());
    } catch (err) {
      setError(err instanceof ApiError && err.status === 401 ? new ApiError(401, 'Unknown key', 'No organisation has this API key.', [], 'UNAUTHORIZED') : err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <main className={styles.page}>
      <form className={styles.card} onSubmit={submit} aria-labelledby="signin-title">
        <h1 id="signin-title">Waybill console</h1>
        <p className={styles.lead}>Sign in with one of your organisation’s API keys. It is kept in this tab only, until you sign out or close it.</p>
        <Field label="API key" hint="It starts with wb_. The first `npm start` printed one.">
          {(p) => (
            <input
              {...p}
              type="password"
              autoComplete="off"
              spellCheck={false}
              value={key}
              onChange={(e) => setKey(e.target.value)}
              required
              autoFocus
            />
          )}
        </Field>
        <ErrorBox error={error} />
        <div className={styles.actions}>
          <Button type="submit" disabled={busy || restoring || key.trim() === ''}>
            {busy ? 'Signing in…' : 'Sign in'}
          </Button>
        </div>
      </form>
    </main>
  );
}
