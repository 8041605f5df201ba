import { useState } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { data, IssuedKey } from '../api/client';
import { Button, Dialog, ErrorBox, Notice, QueryState, ui } from '../components/ui';
import { time } from '../lib/format';
import { POLL_MS, useChannels, useSettings } from '../lib/queries';
import { useSession } from '../session';
import styles from './pages.module.css';

export function SettingsPage() {
  return (
    <>
      <h1>Settings</h1>
      <AlertChannel />
      <ApiKeys />
    </>
  );
}

function AlertChannel() {
  const { api } = useSession();
  const channels = useChannels();
  const settings = useSettings();
  const queryClient = useQueryClient();
  const set = useMutation({
    mutationFn: (channelId: string | null) => data(api.PUT('/v1/settings/alert-channel', { body: { channelId } })),
    onSuccess: (s) => queryClient.setQueryData(['settings'], s),
  });
  return (
    <section aria-labelledby="alert-channel-title">
      <h2 id="alert-channel-title">Alert channel</h2>
      <div className={styles.defaultBox}>
        <label htmlFor="alert-channel">Alert channel</label>
        <select
          id="alert-channel"
          value={settings.data?.alertChannelId ?? ''}
          disabled={settings.isPending || set.isPending}
          onChange={(e) => set.mutate(e.target.value === '' ? null : e.target.value)}
        >
          <option value="">None</option>
          {channels.data?.map((c) => (
            <option key={c.id} value={c.id}>
              {c.name}
            </option>
          ))}
        </select>
        <span className={ui.hint}>Circuits opening and closing and exhausted deliveries are delivered there too.</span>
      </div>
      <ErrorBox error={set.error} />
    </section>
  );
}

function ApiKeys() {
  const { api, org } = useSession();
  const queryClient = useQueryClient();
  const keys = useQuery({ queryKey: ['api-keys'], refetchInterval: POLL_MS, queryFn: () => data(api.GET('/v1/api-keys', { params: { query: { limit: 100 } } })) });
  const [issued, setIssued] = useState<IssuedKey | null>(null);
  const [copied, setCopied] = useState(false);
  const [notice, setNotice] = useState<string | null>(null);
  const [revoking, setRevoking] = useState<{ id: string; prefix: string } | null>(null);
  const issue = useMutation({
    mutationFn: () => data(api.POST('/v1/api-keys')),
    onSuccess: async (k) => {
      setCopied(false);
      setIssued(k);
      await queryClient.invalidateQueries({ queryKey: ['api-keys'] });
    },
  });
  const revoke = useMutation({
    mutationFn: (id: string) => data(api.DELETE('/v1/api-keys/{id}', { params: { path: { id } } })),
    onSuccess: async () => {
      setNotice(`Key ${revoking?.prefix}… revoked.`);
      setRevoking(null);
      await queryClient.invalidateQueries({ queryKey: ['api-keys'] });
    },
  });
  const copy = async () => {
    if (!issued) return;
    await navigator.clipboard.writeText(issued.apiKey);
    setCopied(true);
  };
  return (
    <section aria-labelledby="keys-title">
      <div className={ui.spread}>
        <h2 id="keys-title">API keys</h2>
        <Button onClick={() => issue.mutate()} disabled={issue.isPending}>
          Issue API key
        </Button>
      </div>
      {notice && <Notice>{notice}</Notice>}
      <ErrorBox error={issue.error} />
      <QueryState loading={keys.isPending} error={keys.error} empty={keys.data?.data.length === 0}>
        <table>
          <caption className={ui.visuallyHidden}>API keys that work</caption>
          <thead>
            <tr>
              <th scope="col">Key</th>
              <th scope="col">Created</th>
              <th scope="col">Last used</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {keys.data?.data.map((k) => (
              <tr key={k.id} data-testid={`key-${k.prefix}`}>
                <td className={ui.mono}>
                  {k.prefix}…{k.id === org.apiKey.id && <span className={ui.hint}> (this session)</span>}
                </td>
                <td>{time(k.createdAt)}</td>
                <td>{time(k.lastUsedAt)}</td>
                <td>
                  <Button small variant="danger" aria-label={`Revoke key ${k.prefix}`} onClick={() => setRevoking({ id: k.id, prefix: k.prefix })}>
                    Revoke
                  </Button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </QueryState>
      {issued && (
        <Dialog
          title="New API key"
          open
          onClose={() => setIssued(null)}
          footer={
            <Button variant="secondary" onClick={() => setIssued(null)}>
              Done
            </Button>
          }
        >
          <p>Store it now: it is shown only this once.</p>
          <p className={ui.mono} data-testid="issued-key">
            {issued.apiKey}
          </p>
          <Button onClick={copy}>{copied ? 'Copied' : 'Copy'}</Button>
        </Dialog>
      )}
      {revoking && (
        <Dialog
          title={`Revoke key ${revoking.prefix}…?`}
          open
          onClose={() => setRevoking(null)}
          footer={
            <>
              <Button variant="secondary" onClick={() => setRevoking(null)}>
                Cancel
              </Button>
              <Button variant="danger" onClick={() => revoke.mutate(revoking.id)} disabled={revoke.isPending}>
                Revoke
              </Button>
            </>
          }
        >
          <p>It stops working everywhere within a second.{revoking.id === org.apiKey.id ? ' It is the key of this session: you will be signed out.' : ''}</p>
          <ErrorBox error={revoke.error} />
        </Dialog>
      )}
    </section>
  );
}
