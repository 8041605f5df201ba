import { useQuery } from '@tanstack/react-query';
import { data } from '../api/client';
import { Badge, QueryState, ui } from '../components/ui';
import { time } from '../lib/format';
import { channelName, POLL_MS, useChannels } from '../lib/queries';
import { useSession } from '../session';

const LABELS: Record<string, [string, string]> = {
  'channel.circuit-opened': ['Circuit opened', 'OPEN'],
  'channel.circuit-closed': ['Circuit closed', 'CLOSED'],
  'delivery.exhausted': ['Retries exhausted', 'FAILED'],
};

export function Alerts() {
  const { api } = useSession();
  const channels = useChannels();
  const alerts = useQuery({ queryKey: ['alerts'], refetchInterval: POLL_MS, queryFn: () => data(api.GET('/v1/alerts', { params: { query: { limit: 100 } } })) });
  return (
    <>
      <h1>Alerts</h1>
      <QueryState loading={alerts.isPending} error={alerts.error} empty={alerts.data?.data.length === 0} emptyText="No alerts: no circuit has opened and no delivery has run out of retries.">
        <table>
          <caption className={ui.visuallyHidden}>Alerts, newest first</caption>
          <thead>
            <tr>
              <th scope="col">When</th>
              <th scope="col">Alert</th>
              <th scope="col">Channel</th>
              <th scope="col">Details</th>
            </tr>
          </thead>
          <tbody>
            {alerts.data?.data.map((a) => {
              const [label, tone] = LABELS[a.type] ?? [a.type, 'PENDING'];
              const extra = a as Record<string, unknown>;
              return (
                <tr key={a.id}>
                  <td>{time(a.at)}</td>
                  <td>
                    <Badge value={tone} label={label} />
                  </td>
                  <td>{channelName(channels.data, a.channelId)}</td>
                  <td>
                    {typeof extra.reason === 'string' && extra.reason}
                    {typeof extra.transactionId === 'string' && (
                      <span className={ui.mono}>
                        {extra.transactionId} after {String(extra.attempts)} attempts{extra.lastError ? `: ${String(extra.lastError)}` : ''}
                      </span>
                    )}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </QueryState>
    </>
  );
}
