import { useQuery } from '@tanstack/react-query';
import { data } from '../api/client';
import { useSession } from '../session';

/** How often open lists refresh by themselves (ms). */
export const POLL_MS = 3_000;

/** Every channel of the organisation (pages followed), for names and drop-downs. */
export function useChannels() {
  const { api } = useSession();
  return useQuery({
    queryKey: ['channels'],
    refetchInterval: POLL_MS,
    queryFn: async () => {
      const all = [];
      let cursor: string | undefined;
      do {
        const page = await data(api.GET('/v1/channels', { params: { query: { limit: 100, cursor } } }));
        all.push(...page.data);
        cursor = page.nextCursor ?? undefined;
      } while (cursor && all.length < 1000);
      return all;
    },
  });
}

export function useSettings() {
  const { api } = useSession();
  return useQuery({ queryKey: ['settings'], refetchInterval: POLL_MS, queryFn: () => data(api.GET('/v1/settings')) });
}

export function useRelationships() {
  const { api } = useSession();
  return useQuery({
    queryKey: ['relationships'],
    refetchInterval: POLL_MS,
    queryFn: async () => {
      const all = [];
      let cursor: string | undefined;
      do {
        const page = await data(api.GET('/v1/relationships', { params: { query: { limit: 100, cursor } } }));
        all.push(...page.data);
        cursor = page.nextCursor ?? undefined;
      } while (cursor && all.length < 1000);
      return all;
    },
  });
}

export function channelName(channels: { id: string; name: string }[] | undefined, id: string | null | undefined): string {
  if (!id) return '—';
  return channels?.find((c) => c.id === id)?.name ?? id;
}
