import { FormEvent, useEffect, useRef, useState } from 'react';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { ApiError, data, Relationship } from '../api/client';
import { Badge, Button, Dialog, ErrorBox, Field, Notice, QueryState, ui } from '../components/ui';
import { time } from '../lib/format';
import { channelName, useChannels, useRelationships } from '../lib/queries';
import { useSession } from '../session';
import styles from './pages.module.css';

export function Relationships() {
  const relationships = useRelationships();
  const channels = useChannels();
  const [selected, setSelected] = useState<string | null>(null);
  const [creating, setCreating] = useState(false);
  const [notice, setNotice] = useState<string | null>(null);
  const current = relationships.data?.find((r) => r.id === selected) ?? null;
  return (
    <>
      <div className={ui.spread}>
        <h1>Relationships</h1>
        <Button onClick={() => setCreating(true)}>Create relationship</Button>
      </div>
      {notice && <Notice>{notice}</Notice>}
      <div className={current ? styles.split : undefined}>
        <QueryState
          loading={relationships.isPending}
          error={relationships.error}
          empty={relationships.data?.length === 0}
          emptyText="No relationships yet: a relationship says which channel a sender’s transactions of a type go to."
        >
          <table>
            <caption className={ui.visuallyHidden}>Inbound relationships; choose one to assign its channel</caption>
            <thead>
              <tr>
                <th scope="col">Sender</th>
                <th scope="col">Receiver</th>
                <th scope="col">Type</th>
                <th scope="col">Channel</th>
                <th scope="col">Assigned</th>
              </tr>
            </thead>
            <tbody>
              {relationships.data?.map((r) => (
                <tr
                  key={r.id}
                  className={`${ui.clickable} ${r.id === selected ? ui.selected : ''}`}
                  onClick={() => setSelected(r.id)}
                  data-testid={`relationship-${r.senderId}-${r.receiverId}-${r.transactionType}`}
                >
                  <td>
                    <button type="button" className={styles.rowLink} aria-label={`Open ${r.senderId} to ${r.receiverId} ${r.transactionType}`} onClick={() => setSelected(r.id)}>
                      {r.senderId}
                    </button>
                  </td>
                  <td>{r.receiverId}</td>
                  <td>{r.transactionType}</td>
                  <td>{channelName(channels.data, r.channelId)}</td>
                  <td>{r.channelSource ? <Badge value={r.channelSource === 'EXPLICIT' ? 'CLOSED' : 'PENDING'} label={r.channelSource} /> : '—'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </QueryState>
        {current && <SidePanel key={current.id} relationship={current} onClose={() => setSelected(null)} onNotice={setNotice} />}
      </div>
      {creating && <CreateRelationship onClose={() => setCreating(false)} onCreated={(r) => (setCreating(false), setNotice(`Relationship ${r.senderId} → ${r.receiverId} (${r.transactionType}) created.`))} />}
    </>
  );
}

function SidePanel({ relationship: r, onClose, onNotice }: { relationship: Relationship; onClose: () => void; onNotice: (s: string) => void }) {
  const { api } = useSession();
  const channels = useChannels();
  const queryClient = useQueryClient();
  const [channelId, setChannelId] = useState(r.channelId ?? '');
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => heading.current?.focus(), []);
  const assign = useMutation({
    mutationFn: (id: string | null) => data(api.PATCH('/v1/relationships/{id}', { params: { path: { id: r.id } }, body: { channelId: id } })),
    onSuccess: async (saved) => {
      await queryClient.invalidateQueries({ queryKey: ['relationships'] });
      setChannelId(saved.channelId ?? '');
      onNotice(saved.channelId ? `Assigned ${channelName(channels.data, saved.channelId)} to ${saved.senderId} → ${saved.receiverId}.` : `Unassigned ${saved.senderId} → ${saved.receiverId}.`);
    },
  });
  return (
    <aside className={styles.panel} aria-labelledby="panel-title">
      <div className={ui.spread}>
        <h2 id="panel-title" tabIndex={-1} ref={heading}>
          {r.senderId} → {r.receiverId}
        </h2>
        <Button small variant="secondary" onClick={onClose} aria-label="Close panel">
          Close
        </Button>
      </div>
      <dl className={styles.dl}>
        <dt>Type</dt>
        <dd>{r.transactionType}</dd>
        <dt>Channel</dt>
        <dd data-testid="panel-channel">{channelName(channels.data, r.channelId)}</dd>
        <dt>Assigned</dt>
        <dd>{r.channelSource ?? 'no channel'}</dd>
        <dt>Created</dt>
        <dd>{time(r.createdAt)}</dd>
      </dl>
      <Field label="Assign channel">
        {(p) => (
          <select {...p} value={channelId} onChange={(e) => setChannelId(e.target.value)}>
            <option value="">Choose a channel…</option>
            {channels.data?.map((c) => (
              <option key={c.id} value={c.id}>
                {c.name}
              </option>
            ))}
          </select>
        )}
      </Field>
      <div className={ui.row}>
        <Button onClick={() => assign.mutate(channelId)} disabled={channelId === '' || channelId === r.channelId || assign.isPending}>
          Assign
        </Button>
        <Button variant="secondary" onClick={() => assign.mutate(null)} disabled={r.channelId === null || assign.isPending}>
          Unassign
        </Button>
      </div>
      <ErrorBox error={assign.error} />
    </aside>
  );
}

function CreateRelationship({ onClose, onCreated }: { onClose: () => void; onCreated: (r: Relationship) => void }) {
  const { api } = useSession();
  const channels = useChannels();
  const queryClient = useQueryClient();
  const [form, setForm] = useState({ senderId: '', receiverId: '', transactionType: '', channelId: '' });
  const create = useMutation({
    mutationFn: () =>
      data(
        api.POST('/v1/relationships', {
          body: { senderId: form.senderId.trim(), receiverId: form.receiverId.trim(), transactionType: form.transactionType.trim(), ...(form.channelId ? { channelId: form.channelId } : {}) },
        }),
      ),
    onSuccess: async (r) => {
      await queryClient.invalidateQueries({ queryKey: ['relationships'] });
      onCreated(r);
    },
  });
  const err = (path: string) => (create.error instanceof ApiError ? create.error.fieldMessage(path) : undefined);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    create.mutate();
  };
  const input = (k: 'senderId' | 'receiverId' | 'transactionType', label: string) => (
    <Field label={label} error={err(`body.${k}`)}>
      {(p) => <input {...p} value={form[k]} required maxLength={200} onChange={(e) => setForm({ ...form, [k]: e.target.value })} />}
    </Field>
  );
  return (
    <Dialog
      title="Create relationship"
      open
      onClose={onClose}
      footer={
        <>
          <Button variant="secondary" onClick={onClose}>
            Cancel
          </Button>
          <Button type="submit" form="relationship-form" disabled={create.isPending}>
            Create
          </Button>
        </>
      }
    >
      <form id="relationship-form" onSubmit={submit}>
        <ErrorBox error={create.error} />
        {input('senderId', 'Sender')}
        {input('receiverId', 'Receiver')}
        {input('transactionType', 'Transaction type')}
        <Field label="Channel" hint="Leave it to the default inbound channel, or choose one." error={err('body.channelId')}>
          {(p) => (
            <select {...p} value={form.channelId} onChange={(e) => setForm({ ...form, channelId: e.target.value })}>
              <option value="">Default inbound channel</option>
              {channels.data?.map((c) => (
                <option key={c.id} value={c.id}>
                  {c.name}
                </option>
              ))}
            </select>
          )}
        </Field>
      </form>
    </Dialog>
  );
}
