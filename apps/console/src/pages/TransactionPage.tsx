import { useState } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { data } from '../api/client';
import { Link } from '../components/Layout';
import { Badge, Button, ErrorBox, Notice, QueryState, ui } from '../components/ui';
import { ms, time } from '../lib/format';
import { channelName, POLL_MS, useChannels } from '../lib/queries';
import { useSession } from '../session';
import styles from './pages.module.css';

const SETTLED = ['ACCEPTED', 'DISPATCHED', 'REJECTED', 'FAILED'];

export function TransactionPage({ id }: { id: string }) {
  const { api } = useSession();
  const channels = useChannels();
  const queryClient = useQueryClient();
  const [notice, setNotice] = useState<string | null>(null);
  const tx = useQuery({
    queryKey: ['transaction', id],
    refetchInterval: POLL_MS,
    queryFn: () => data(api.GET('/v1/transactions/{id}', { params: { path: { id } } })),
  });
  const events = useQuery({
    queryKey: ['transaction', id, 'events'],
    refetchInterval: POLL_MS,
    queryFn: () => data(api.GET('/v1/transactions/{id}/events', { params: { path: { id }, query: { limit: 100 } } })),
  });
  const last = tx.data?.attempts[tx.data.attempts.length - 1];
  const request = useQuery({
    queryKey: ['transaction', id, 'request', last?.deliveryId, last?.attempt],
    enabled: tx.isSuccess,
    queryFn: () =>
      data(
        api.GET('/v1/transactions/{id}/request', {
          params: { path: { id }, query: last ? { deliveryId: last.deliveryId, attempt: last.attempt } : {} },
        }),
      ),
  });
  const refresh = () => queryClient.invalidateQueries({ queryKey: ['transaction', id] });
  const accept = useMutation({
    mutationFn: () => data(api.POST('/v1/transactions/{id}/accept', { params: { path: { id } } })),
    onSuccess: async () => (await refresh(), setNotice('Accepted.')),
  });
  const redeliver = useMutation({
    mutationFn: () => data(api.POST('/v1/transactions/{id}/redeliver', { params: { path: { id } } })),
    onSuccess: async () => (await refresh(), setNotice('Redelivery requested.')),
  });
  const t = tx.data;
  return (
    <>
      <p>
        <Link to="/transactions">← Transactions</Link>
      </p>
      <QueryState loading={tx.isPending} error={tx.error}>
        {t && (
          <>
            <div className={ui.spread}>
              <h1>
                Transaction <span className={ui.mono}>{t.id}</span>
              </h1>
              <div className={ui.row}>
                {t.status === 'DISPATCHED' && (
                  <Button onClick={() => accept.mutate()} disabled={accept.isPending}>
                    Accept
                  </Button>
                )}
                <Button variant="secondary" onClick={() => redeliver.mutate()} disabled={!SETTLED.includes(t.status) || redeliver.isPending}>
                  Redeliver
                </Button>
              </div>
            </div>
            {notice && <Notice>{notice}</Notice>}
            <ErrorBox error={accept.error ?? redeliver.error} />
            <dl className={styles.dl}>
              <dt>Status</dt>
              <dd data-testid="tx-status">
                <Badge value={t.status} />
                {t.nextAttemptAt && <span className={ui.hint}> next attempt {time(t.nextAttemptAt)}</span>}
              </dd>
              <dt>Sender → receiver</dt>
              <dd>
                {t.senderId} → {t.receiverId} ({t.transactionType})
              </dd>
              <dt>Business number</dt>
              <dd>{t.businessNumber ?? '—'}</dd>
              <dt>Channel</dt>
              <dd>{channelName(channels.data, t.channelId)}</dd>
              <dt>Stream</dt>
              <dd>{t.stream ?? '—'}</dd>
              <dt>Created</dt>
              <dd>{time(t.createdAt)}</dd>
            </dl>
            <section aria-labelledby="attempts">
              <h2 id="attempts">Attempts</h2>
              {t.attempts.length === 0 ? (
                <p className={ui.hint}>No attempt yet.</p>
              ) : (
                <ol className={styles.timeline} data-testid="attempts">
                  {t.attempts.map((a) => (
                    <li key={`${a.deliveryId}-${a.attempt}`}>
                      <div className={ui.row}>
                        <strong>Attempt {a.attempt}</strong>
                        <Badge value={a.outcome} />
                        <span>{a.statusCode ? `HTTP ${a.statusCode}` : 'no answer'}</span>
                        <span className={ui.hint}>
                          {ms(a.durationMs)} · {time(a.at)}
                        </span>
                      </div>
                      {a.error && <div className={ui.fieldError}>{a.error}</div>}
                      {a.responseExcerpt && <pre className={ui.pre}>{a.responseExcerpt}</pre>}
                    </li>
                  ))}
                </ol>
              )}
            </section>
            <section aria-labelledby="sent">
              <h2 id="sent">Payload and request</h2>
              <QueryState loading={request.isPending} error={request.error}>
                {request.data && (
                  <>
                    <h3>Payload ({request.data.format})</h3>
                    <pre className={ui.pre} data-testid="payload">
                      {request.data.payload}
                    </pre>
                    {request.data.request ? (
                      <>
                        <h3>Request{last ? ` of attempt ${last.attempt}` : ''}</h3>
                        <p className={ui.mono}>POST {request.data.request.url}</p>
                        <table>
                          <caption className={ui.visuallyHidden}>Request headers</caption>
                          <thead>
                            <tr>
                              <th scope="col">Header</th>
                              <th scope="col">Value</th>
                            </tr>
                          </thead>
                          <tbody>
                            {request.data.request.headers.map((h) => (
                              <tr key={h.name}>
                                <td className={ui.mono}>{h.name}</td>
                                <td className={ui.mono}>{h.value}</td>
                              </tr>
                            ))}
                          </tbody>
                        </table>
                        <h3>Body</h3>
                        <pre className={ui.pre}>{request.data.request.body}</pre>
                      </>
                    ) : (
                      <p className={ui.hint}>A pull channel: the partner fetches the message.</p>
                    )}
                  </>
                )}
              </QueryState>
            </section>
            <section aria-labelledby="history">
              <h2 id="history">Event history</h2>
              <QueryState loading={events.isPending} error={events.error} empty={events.data?.data.length === 0}>
                <table>
                  <thead>
                    <tr>
                      <th scope="col">When</th>
                      <th scope="col">Event</th>
                    </tr>
                  </thead>
                  <tbody>
                    {events.data?.data.map((e) => (
                      <tr key={e.eventId}>
                        <td>{time(e.occurredAt)}</td>
                        <td className={ui.mono}>{e.type}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </QueryState>
            </section>
          </>
        )}
      </QueryState>
    </>
  );
}
