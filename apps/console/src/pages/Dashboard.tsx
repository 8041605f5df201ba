import { useQuery } from '@tanstack/react-query';
import { data } from '../api/client';
import { DeliveriesChart } from '../components/DeliveriesChart';
import { Link } from '../components/Layout';
import { Badge, QueryState } from '../components/ui';
import { time } from '../lib/format';
import { channelName, POLL_MS, useChannels } from '../lib/queries';
import { useSession } from '../session';
import styles from './pages.module.css';

const STATUSES = ['PENDING', 'SENDING', 'ACCEPTED', 'DISPATCHED', 'REJECTED', 'FAILED'] as const;

export function Dashboard() {
  const { api } = useSession();
  const hour = useQuery({
    queryKey: ['stats', '1m'],
    refetchInterval: POLL_MS,
    queryFn: () => data(api.GET('/v1/stats/deliveries', { params: { query: { bucket: '1m' } } })),
  });
  const day = useQuery({
    queryKey: ['stats', '1h'],
    refetchInterval: 30_000,
    queryFn: () => data(api.GET('/v1/stats/deliveries', { params: { query: { bucket: '1h' } } })),
  });
  const counts = useQuery({ queryKey: ['stats', 'transactions'], refetchInterval: POLL_MS, queryFn: () => data(api.GET('/v1/stats/transactions')) });
  const open = useQuery({ queryKey: ['channel-health', 'open'], refetchInterval: POLL_MS, queryFn: () => data(api.GET('/v1/channel-health')) });
  const channels = useChannels();

  return (
    <>
      <h1>Dashboard</h1>
      <section aria-labelledby="tx-by-status">
        <h2 id="tx-by-status">Transactions by status</h2>
        <QueryState loading={counts.isPending} error={counts.error}>
          <ul className={styles.tiles}>
            {STATUSES.map((s) => (
              <li key={s} className={styles.tile}>
                <Link to={`/transactions?status=${s}`}>
                  <span className={styles.tileNumber} data-testid={`count-${s}`}>
                    {counts.data?.[s] ?? 0}
                  </span>
                  <Badge value={s} />
                </Link>
              </li>
            ))}
          </ul>
        </QueryState>
      </section>
      <section aria-labelledby="deliveries">
        <h2 id="deliveries">Deliveries by outcome</h2>
        <div className={styles.charts}>
          <QueryState loading={hour.isPending} error={hour.error}>
            {hour.data && <DeliveriesChart stats={hour.data} title="Per minute, last hour" />}
          </QueryState>
          <QueryState loading={day.isPending} error={day.error}>
            {day.data && <DeliveriesChart stats={day.data} title="Per hour, last day" />}
          </QueryState>
        </div>
      </section>
      <section aria-labelledby="open-circuits">
        <h2 id="open-circuits">Channels whose circuit is open</h2>
        <QueryState loading={open.isPending} error={open.error} empty={open.data?.data.length === 0} emptyText="Every circuit is closed.">
          <table>
            <thead>
              <tr>
                <th scope="col">Channel</th>
                <th scope="col">Circuit</th>
                <th scope="col">Waiting</th>
                <th scope="col">Next probe</th>
                <th scope="col">Last error</th>
              </tr>
            </thead>
            <tbody>
              {open.data?.data.map((h) => (
                <tr key={h.channelId}>
                  <td>{channelName(channels.data, h.channelId)}</td>
                  <td>
                    <Badge value={h.circuit} />
                  </td>
                  <td>{h.waiting}</td>
                  <td>{time(h.nextProbeAt)}</td>
                  <td>{h.lastOutcomes[0]?.error ?? (h.lastOutcomes[0]?.statusCode ? `HTTP ${h.lastOutcomes[0].statusCode}` : '—')}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </QueryState>
      </section>
    </>
  );
}
