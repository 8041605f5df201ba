import { createContext, ReactNode, useCallback, useContext, useEffect, useMemo, useState } from 'react';
import { useQueryClient } from '@tanstack/react-query';
import { Api, createApi, Organization, organizationOf } from './api/client';
import { forgetKey, storedKey, storeKey } from './lib/session';

interface Session {
  api: Api;
  org: Organization;
  signOut: () => void;
}

const SessionContext = createContext<Session | null>(null);
const SignInContext = createContext<{ signIn: (apiKey: string) => Promise<void>; restoring: boolean } | null>(null);

/** The signed-in key (this tab's sessionStorage only), its client and its organisation. */
export function SessionProvider({ children, signedOut }: { children: ReactNode; signedOut: ReactNode }) {
  const queryClient = useQueryClient();
  const [state, setState] = useState<{ apiKey: string; org: Organization } | null>(null);
  const [restoring, setRestoring] = useState(() => storedKey() !== null);

  const signOut = useCallback(() => {
    forgetKey();
    queryClient.clear();
    setState(null);
  }, [queryClient]);

  const signIn = useCallback(async (apiKey: string) => {
    const org = await organizationOf(apiKey);
    storeKey(apiKey);
    setState({ apiKey, org });
  }, []);

  // A reload of the tab signs in again with the key kept for the session.
  useEffect(() => {
    const key = storedKey();
    if (!key) return;
    organizationOf(key)
      .then(
        (org) => setState({ apiKey: key, org }),
        () => forgetKey(),
      )
      .finally(() => setRestoring(false));
  }, []);

  const session = useMemo(() => (state ? { api: createApi(state.apiKey, signOut), org: state.org, signOut } : null), [state, signOut]);
  const signInValue = useMemo(() => ({ signIn, restoring }), [signIn, restoring]);
  return (
    <SignInContext.Provider value={signInValue}>
      {session ? <SessionContext.Provider value={session}>{children}</SessionContext.Provider> : signedOut}
    </SignInContext.Provider>
  );
}

export function useSession(): Session {
  const s = useContext(SessionContext);
  if (!s) throw new Error('not signed in');
  return s;
}

export function useSignIn() {
  const s = useContext(SignInContext);
  if (!s) throw new Error('no session provider');
  return s;
}
