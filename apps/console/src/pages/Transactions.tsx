import { useState } from 'react';
import { keepPreviousData, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { data } from '../api/client';
import { Link } from '../components/Layout';
import { Badge, Button, Dialog, ErrorBox, Field, Notice, QueryState, ui } from '../components/ui';
import { shortId, time } from '../lib/format';
import { channelName, POLL_MS, useChannels, useRelationships } from '../lib/queries';
import { navigate, useLocation } from '../lib/router';
import { useSession } from '../session';
import styles from './pages.module.css';

const STATUSES = ['PENDING', 'SENDING', 'ACCEPTED', 'DISPATCHED', 'REJECTED', 'FAILED'] as const;
const SETTLED = ['ACCEPTED', 'DISPATCHED', 'REJECTED', 'FAILED'] as const;
type Status = (typeof STATUSES)[number];
type Settled = (typeof SETTLED)[number];

/** `datetime-local` value (local time) ↔ RFC 3339. */
const toIso = (local: string) => (local ? new Date(local).toISOString() : undefined);
const toLocal = (iso: string | null) => {
  if (!iso) return '';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? '' : new Date(d.getTime() - d.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
};

export function Transactions() {
  const { api } = useSession();
  const { query } = useLocation();
  const channels = useChannels();
  const relationships = useRelationships();
  const queryClient = useQueryClient();
  const filter = {
    status: (query.get('status') ?? '') as Status | '',
    channelId: query.get('channelId') ?? '',
    relationshipId: query.get('relationshipId') ?? '',
    createdAfter: query.get('createdAfter') ?? '',
    createdBefore: query.get('createdBefore') ?? '',
  };
  const [cursors, setCursors] = useState<(string | undefined)[]>([undefined]);
  const cursor = cursors[cursors.length - 1];
  const [confirm, setConfirm] = useState<{ count: number } | null>(null);
  const [notice, setNotice] = useState<string | null>(null);

  const setFilter = (change: Partial<typeof filter>) => {
    const next = { ...filter, ...change };
    const qs = new URLSearchParams(Object.entries(next).filter(([, v]) => v !== '') as [string, string][]).toString();
    setCursors([undefined]);
    navigate(`/transactions${qs ? `?${qs}` : ''}`, true);
  };
  const params = {
    limit: 25,
    cursor,
    ...(filter.status ? { status: filter.status } : {}),
    ...(filter.channelId ? { channelId: filter.channelId } : {}),
    ...(filter.relationshipId ? { relationshipId: filter.relationshipId } : {}),
    ...(filter.createdAfter ? { createdAfter: filter.createdAfter } : {}),
    ...(filter.createdBefore ? { createdBefore: filter.createdBefore } : {}),
  };
  const list = useQuery({
    queryKey: ['transactions', params],
    refetchInterval: POLL_MS,
    placeholderData: keepPreviousData,
    queryFn: () => data(api.GET('/v1/transactions', { params: { query: params as never } })),
  });

  const sweepFilter = () => ({
    status: filter.status as Settled,
    ...(filter.channelId ? { channelId: filter.channelId } : {}),
    ...(filter.createdAfter ? { createdAfter: filter.createdAfter } : {}),
    ...(filter.createdBefore ? { createdBefore: filter.createdBefore } : {}),
  });
  const dryRun = useMutation({
    mutationFn: () => data(api.POST('/v1/transactions/redeliver', { body: { ...sweepFilter(), dryRun: true } })),
    onSuccess: (r) => setConfirm({ count: r.count }),
  });
  const sweep = useMutation({
    mutationFn: () => data(api.POST('/v1/transactions/redeliver', { body: sweepFilter() })),
    onSuccess: async (r) => {
      setConfirm(null);
      setNotice(`Redelivery of ${r.count} transaction${r.count === 1 ? '' : 's'} requested.`);
      await queryClient.invalidateQueries({ queryKey: ['transactions'] });
    },
  });
  const canSweep = (SETTLED as readonly string[]).includes(filter.status) && !filter.relationshipId;

  return (
    <>
      <div className={ui.spread}>
        <h1>Transactions</h1>
        <div className={ui.row}>
          <Button variant={filter.status === 'FAILED' ? 'primary' : 'secondary'} onClick={() => setFilter({ status: filter.status === 'FAILED' ? '' : 'FAILED' })} aria-pressed={filter.status === 'FAILED'}>
            FAILED only
          </Button>
          <Button
            variant="danger"
            disabled={!canSweep || dryRun.isPending}
            onClick={() => dryRun.mutate()}
            title={canSweep ? undefined : 'Filter by one settled status (FAILED, REJECTED, DISPATCHED or ACCEPTED) first'}
          >
            Redeliver all matching
          </Button>
        </div>
      </div>
      <form className={styles.filters} onSubmit={(e) => e.preventDefault()} aria-label="Filters">
        <Field label="Status">
          {(p) => (
            <select {...p} value={filter.status} onChange={(e) => setFilter({ status: e.target.value as Status })}>
              <option value="">Any</option>
              {STATUSES.map((s) => (
                <option key={s} value={s}>
                  {s}
                </option>
              ))}
            </select>
          )}
        </Field>
        <Field label="Channel">
          {(p) => (
            <select {...p} value={filter.channelId} onChange={(e) => setFilter({ channelId: e.target.value })}>
              <option value="">Any</option>
              {channels.data?.map((c) => (
                <option key={c.id} value={c.id}>
                  {c.name}
                </option>
              ))}
            </select>
          )}
        </Field>
        <Field label="Relationship">
          {(p) => (
            <select {...p} value={filter.relationshipId} onChange={(e) => setFilter({ relationshipId: e.target.value })}>
              <option value="">Any</option>
              {relationships.data?.map((r) => (
                <option key={r.id} value={r.id}>
                  {r.senderId} → {r.receiverId} ({r.transactionType})
                </option>
              ))}
            </select>
          )}
        </Field>
        <Field label="Created from">
          {(p) => <input {...p} type="datetime-local" value={toLocal(filter.createdAfter)} onChange={(e) => setFilter({ createdAfter: toIso(e.target.value) ?? '' })} />}
        </Field>
        <Field label="Created before">
          {(p) => <input {...p} type="datetime-local" value={toLocal(filter.createdBefore)} onChange={(e) => setFilter({ createdBefore: toIso(e.target.value) ?? '' })} />}
        </Field>
      </form>
      {notice && <Notice>{notice}</Notice>}
      <ErrorBox error={dryRun.error} />
      <QueryState loading={list.isPending} error={list.error} empty={list.data?.data.length === 0} emptyText="No transaction matches.">
        <table>
          <caption className={ui.visuallyHidden}>Transactions, newest first</caption>
          <thead>
            <tr>
              <th scope="col">Transaction</th>
              <th scope="col">Status</th>
              <th scope="col">Sender → receiver</th>
              <th scope="col">Type</th>
              <th scope="col">Channel</th>
              <th scope="col">Created</th>
              <th scope="col">Updated</th>
            </tr>
          </thead>
          <tbody>
            {list.data?.data.map((t) => (
              <tr key={t.id} data-testid={`tx-${t.id}`}>
                <td>
                  <Link to={`/transactions/${encodeURIComponent(t.id)}`} className={ui.mono} title={t.id}>
                    {shortId(t.id)}
                  </Link>
                </td>
                <td>
                  <Badge value={t.status} />
                </td>
                <td>
                  {t.senderId} → {t.receiverId}
                </td>
                <td>{t.transactionType}</td>
                <td>{channelName(channels.data, t.channelId)}</td>
                <td>{time(t.createdAt)}</td>
                <td>{time(t.updatedAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
        <div className={styles.pager}>
          <Button variant="secondary" disabled={cursors.length === 1} onClick={() => setCursors((c) => c.slice(0, -1))}>
            Previous page
          </Button>
          <Button variant="secondary" disabled={!list.data?.nextCursor} onClick={() => setCursors((c) => [...c, list.data?.nextCursor ?? undefined])}>
            Next page
          </Button>
          <span className={ui.hint}>Page {cursors.length}</span>
        </div>
      </QueryState>
      {confirm && (
        <Dialog
          title="Redeliver all matching?"
          open
          onClose={() => setConfirm(null)}
          footer={
            <>
              <Button variant="secondary" onClick={() => setConfirm(null)}>
                Cancel
              </Button>
              <Button variant="danger" onClick={() => sweep.mutate()} disabled={sweep.isPending || confirm.count === 0}>
                Redeliver {confirm.count}
              </Button>
            </>
          }
        >
          <p data-testid="sweep-count">
            This will redeliver <strong>{confirm.count}</strong> {filter.status} transaction{confirm.count === 1 ? '' : 's'}
            {filter.channelId ? ` of ${channelName(channels.data, filter.channelId)}` : ''}, each to its relationship’s channel as it is now.
          </p>
          <ErrorBox error={sweep.error} />
        </Dialog>
      )}
    </>
  );
}
