import { useState } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { ApiError, Channel, data, Relationship } from '../api/client';
import { Badge, Button, Dialog, ErrorBox, MenuButton, Notice, QueryState, ui } from '../components/ui';
import { authLabel, ms, time } from '../lib/format';
import { POLL_MS, useChannels, useSettings } from '../lib/queries';
import { useSession } from '../session';
import { ChannelDialog } from './ChannelDialog';
import styles from './pages.module.css';

type Modal =
  | { kind: 'create'; type: 'HTTP' | 'PULL' }
  | { kind: 'edit'; channel: Channel }
  | { kind: 'delete'; channel: Channel }
  | { kind: 'test'; channel: Channel }
  | { kind: 'secret'; channel: Channel }
  | { kind: 'messages'; channel: Channel }
  | null;

export function Channels() {
  const channels = useChannels();
  const [modal, setModal] = useState<Modal>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const close = () => setModal(null);
  return (
    <>
      <div className={ui.spread}>
        <h1>Communication Channels</h1>
        <MenuButton
          label="Create Channel"
          items={[
            { label: 'HTTP', onSelect: () => setModal({ kind: 'create', type: 'HTTP' }) },
            { label: 'Pull', onSelect: () => setModal({ kind: 'create', type: 'PULL' }) },
          ]}
        />
      </div>
      <DefaultInbound channels={channels.data ?? []} />
      {notice && <Notice>{notice}</Notice>}
      <QueryState loading={channels.isPending} error={channels.error} empty={channels.data?.length === 0} emptyText="No channels yet: create one to deliver to a partner.">
        <table>
          <caption className={ui.visuallyHidden}>Communication channels</caption>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Type</th>
              <th scope="col">URL or queue</th>
              <th scope="col">Format</th>
              <th scope="col">Auth</th>
              <th scope="col">Enabled</th>
              <th scope="col">Health</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {channels.data?.map((c) => (
              <ChannelRow key={c.id} channel={c} open={setModal} onNotice={setNotice} />
            ))}
          </tbody>
        </table>
      </QueryState>
      {modal?.kind === 'create' && (
        <ChannelDialog
          open
          type={modal.type}
          onClose={close}
          onSaved={(c) => {
            close();
            setNotice(`Channel “${c.name}” created.`);
          }}
        />
      )}
      {modal?.kind === 'edit' && (
        <ChannelDialog
          open
          type={modal.channel.type}
          channel={modal.channel}
          onClose={close}
          onSaved={(c) => {
            close();
            setNotice(`Channel “${c.name}” saved.`);
          }}
        />
      )}
      {modal?.kind === 'delete' && <DeleteDialog channel={modal.channel} onClose={close} onDeleted={() => (close(), setNotice(`Channel “${modal.channel.name}” deleted.`))} />}
      {modal?.kind === 'test' && <TestDialog channel={modal.channel} onClose={close} />}
      {modal?.kind === 'secret' && <SecretDialog channel={modal.channel} onClose={close} />}
      {modal?.kind === 'messages' && <MessagesDialog channel={modal.channel} onClose={close} />}
    </>
  );
}

function DefaultInbound({ channels }: { channels: Channel[] }) {
  const { api } = useSession();
  const settings = useSettings();
  const queryClient = useQueryClient();
  const set = useMutation({
    mutationFn: (channelId: string | null) => data(api.PUT('/v1/settings/default-inbound-channel', { body: { channelId } })),
    onSuccess: (s) => queryClient.setQueryData(['settings'], s),
  });
  return (
    <div className={styles.defaultBox}>
      <label htmlFor="default-inbound">Default Inbound Channel</label>
      <select
        id="default-inbound"
        value={settings.data?.defaultInboundChannelId ?? ''}
        disabled={settings.isPending || set.isPending}
        onChange={(e) => set.mutate(e.target.value === '' ? null : e.target.value)}
      >
        <option value="">None</option>
        {channels.map((c) => (
          <option key={c.id} value={c.id}>
            {c.name}
          </option>
        ))}
      </select>
      <span className={ui.hint}>A relationship created without a channel gets this one.</span>
      <ErrorBox error={set.error} />
    </div>
  );
}

function ChannelRow({ channel: c, open, onNotice }: { channel: Channel; open: (m: Modal) => void; onNotice: (s: string) => void }) {
  const { api } = useSession();
  const queryClient = useQueryClient();
  const health = useQuery({
    queryKey: ['health', c.id],
    refetchInterval: POLL_MS,
    queryFn: () => data(api.GET('/v1/channels/{id}/health', { params: { path: { id: c.id } } })),
  });
  const toggle = useMutation({
    mutationFn: () => data(api.PATCH('/v1/channels/{id}', { params: { path: { id: c.id } }, body: { enabled: !c.enabled } })),
    onSuccess: async (saved) => {
      await queryClient.invalidateQueries({ queryKey: ['channels'] });
      onNotice(`Channel “${saved.name}” ${saved.enabled ? 'enabled' : 'disabled'}.`);
    },
  });
  const last = health.data?.lastOutcomes[0];
  const lastError = last && last.outcome !== 'ACCEPTED' && last.outcome !== 'DISPATCHED' ? (last.error ?? (last.statusCode ? `HTTP ${last.statusCode}` : null)) : null;
  return (
    <tr>
      <th scope="row">{c.name}</th>
      <td>{c.type === 'HTTP' ? 'HTTP' : 'Pull'}</td>
      <td className={ui.mono}>{c.type === 'HTTP' ? c.url : `queue ${c.id}`}</td>
      <td>{c.format}</td>
      <td>
        {authLabel(c.auth.type)}
        {c.auth.type !== 'NONE' && <div className={ui.hint}>credential set</div>}
      </td>
      <td>
        <Badge value={c.enabled ? 'yes' : 'no'} label={c.enabled ? 'Enabled' : 'Disabled'} />
      </td>
      <td>
        {health.data ? (
          <>
            <Badge value={health.data.circuit} />
            {lastError && <div className={ui.hint}>{lastError}</div>}
            {health.data.waiting > 0 && <div className={ui.hint}>{health.data.waiting} waiting</div>}
          </>
        ) : health.error ? (
          <span className={ui.hint}>unknown</span>
        ) : (
          '…'
        )}
      </td>
      <td>
        <div className={styles.actions}>
          <Button small variant="secondary" aria-label={`Edit ${c.name}`} onClick={() => open({ kind: 'edit', channel: c })}>
            Edit
          </Button>
          <Button small variant="secondary" aria-label={`${c.enabled ? 'Disable' : 'Enable'} ${c.name}`} onClick={() => toggle.mutate()} disabled={toggle.isPending}>
            {c.enabled ? 'Disable' : 'Enable'}
          </Button>
          {c.type === 'HTTP' ? (
            <Button small variant="secondary" aria-label={`Send a test to ${c.name}`} onClick={() => open({ kind: 'test', channel: c })}>
              Send a test
            </Button>
          ) : (
            <Button small variant="secondary" aria-label={`Pending messages of ${c.name}`} onClick={() => open({ kind: 'messages', channel: c })}>
              Pending messages
            </Button>
          )}
          {c.signing.enabled && (
            <Button small variant="secondary" aria-label={`Signing secret of ${c.name}`} onClick={() => open({ kind: 'secret', channel: c })}>
              Signing secret
            </Button>
          )}
          <Button small variant="danger" aria-label={`Delete ${c.name}`} onClick={() => open({ kind: 'delete', channel: c })}>
            Delete
          </Button>
        </div>
        <ErrorBox error={toggle.error} />
      </td>
    </tr>
  );
}

function DeleteDialog({ channel, onClose, onDeleted }: { channel: Channel; onClose: () => void; onDeleted: () => void }) {
  const { api } = useSession();
  const queryClient = useQueryClient();
  const [users, setUsers] = useState<Relationship[] | null>(null);
  const del = useMutation({
    mutationFn: () => data(api.DELETE('/v1/channels/{id}', { params: { path: { id: channel.id } } })),
    onSuccess: async () => {
      await queryClient.invalidateQueries({ queryKey: ['channels'] });
      onDeleted();
    },
    onError: async (e) => {
      if (e instanceof ApiError && e.status === 409) {
        const rels = await data(api.GET('/v1/relationships', { params: { query: { channelId: channel.id, limit: 100 } } }));
        setUsers(rels.data);
      }
    },
  });
  return (
    <Dialog
      title={`Delete ${channel.name}?`}
      open
      onClose={onClose}
      footer={
        <>
          <Button variant="secondary" onClick={onClose}>
            {del.isError ? 'Close' : 'Cancel'}
          </Button>
          {!del.isError && (
            <Button variant="danger" onClick={() => del.mutate()} disabled={del.isPending}>
              Delete
            </Button>
          )}
        </>
      }
    >
      {!del.isError && <p>The channel and its settings go; transactions already delivered keep their history.</p>}
      <ErrorBox error={del.error} />
      {users && users.length > 0 && (
        <>
          <h3>Relationships that use it</h3>
          <ul data-testid="in-use-by">
            {users.map((r) => (
              <li key={r.id}>
                {r.senderId} → {r.receiverId} ({r.transactionType}) · {r.channelSource}
              </li>
            ))}
          </ul>
          <p className={ui.hint}>Assign them another channel first (Relationships).</p>
        </>
      )}
      {users && users.length === 0 && <p className={ui.hint}>It is the default inbound or the alert channel: change that in the settings first.</p>}
    </Dialog>
  );
}

function TestDialog({ channel, onClose }: { channel: Channel; onClose: () => void }) {
  const { api } = useSession();
  const test = useMutation({ mutationFn: () => data(api.POST('/v1/channels/{id}/test', { params: { path: { id: channel.id } } })) });
  return (
    <Dialog
      title={`Send a test to ${channel.name}`}
      open
      onClose={onClose}
      footer={
        <>
          <Button variant="secondary" onClick={onClose}>
            Close
          </Button>
          <Button onClick={() => test.mutate()} disabled={test.isPending}>
            {test.isPending ? 'Sending…' : 'Send'}
          </Button>
        </>
      }
    >
      <p>One test delivery (stream TEST, header Waybill-Test: true) goes to {channel.url} now, with its auth and signature. Nothing is recorded.</p>
      <ErrorBox error={test.error} />
      {test.data && (
        <dl className={styles.dl} data-testid="test-result">
          <dt>Partner answered</dt>
          <dd>{test.data.statusCode ?? 'no answer'}</dd>
          <dt>Outcome</dt>
          <dd>
            <Badge value={test.data.outcome} />
          </dd>
          <dt>Duration</dt>
          <dd>{ms(test.data.durationMs)}</dd>
          {test.data.error && (
            <>
              <dt>Error</dt>
              <dd>{test.data.error}</dd>
            </>
          )}
        </dl>
      )}
    </Dialog>
  );
}

function SecretDialog({ channel, onClose }: { channel: Channel; onClose: () => void }) {
  const { api } = useSession();
  const [secret, setSecret] = useState<{ secret: string; createdAt: string; previousSecretExpiresAt?: string | null } | null>(null);
  const reveal = useMutation({
    mutationFn: () => data(api.GET('/v1/channels/{id}/signing-secret', { params: { path: { id: channel.id } } })),
    onSuccess: setSecret,
  });
  const rotate = useMutation({
    mutationFn: () => data(api.POST('/v1/channels/{id}/signing-secret/rotate', { params: { path: { id: channel.id } } })),
    onSuccess: setSecret,
  });
  return (
    <Dialog
      title={`Signing secret of ${channel.name}`}
      open
      onClose={onClose}
      footer={
        <Button variant="secondary" onClick={onClose}>
          Close
        </Button>
      }
    >
      <p>The partner verifies the webhook-signature header with this secret. It is shown only when you ask.</p>
      <div className={ui.row}>
        <Button onClick={() => reveal.mutate()} disabled={reveal.isPending}>
          Reveal secret
        </Button>
        <Button variant="secondary" onClick={() => rotate.mutate()} disabled={rotate.isPending}>
          Rotate secret
        </Button>
      </div>
      <ErrorBox error={reveal.error ?? rotate.error} />
      {secret && (
        <>
          <p className={ui.mono} data-testid="signing-secret">
            {secret.secret}
          </p>
          <p className={ui.hint}>
            Issued {time(secret.createdAt)}
            {secret.previousSecretExpiresAt ? `; the previous secret still signs until ${time(secret.previousSecretExpiresAt)}.` : '.'}
          </p>
        </>
      )}
    </Dialog>
  );
}

function MessagesDialog({ channel, onClose }: { channel: Channel; onClose: () => void }) {
  const { api } = useSession();
  const pending = useQuery({
    queryKey: ['pending', channel.id],
    refetchInterval: POLL_MS,
    queryFn: () => data(api.GET('/v1/channels/{id}/messages/pending', { params: { path: { id: channel.id }, query: { limit: 50 } } })),
  });
  return (
    <Dialog
      title={`Pending messages of ${channel.name}`}
      open
      onClose={onClose}
      footer={
        <Button variant="secondary" onClick={onClose}>
          Close
        </Button>
      }
    >
      <p className={ui.hint}>Looking does not lease them: the partner still gets each one.</p>
      <QueryState loading={pending.isPending} error={pending.error} empty={pending.data?.data.length === 0} emptyText="No message is waiting.">
        <table>
          <thead>
            <tr>
              <th scope="col">Transaction</th>
              <th scope="col">Sender → receiver</th>
              <th scope="col">Type</th>
              <th scope="col">Queued</th>
              <th scope="col">Leases</th>
            </tr>
          </thead>
          <tbody>
            {pending.data?.data.map((m) => (
              <tr key={m.deliveryId}>
                <td className={ui.mono}>{m.transactionId}</td>
                <td>
                  {m.senderId} → {m.receiverId}
                </td>
                <td>{m.transactionType}</td>
                <td>{time(m.queuedAt)}</td>
                <td>{m.leasedUntil ? `leased until ${time(m.leasedUntil)}` : m.attempts}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </QueryState>
    </Dialog>
  );
}
