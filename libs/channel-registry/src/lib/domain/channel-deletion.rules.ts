/** The organisation's settings that name channels: a channel they name cannot be deleted. */
export interface OrgSettingsState {
  defaultInboundChannelId: string | null;
  alertChannelId: string | null;
}

/**
 * Why a channel cannot be deleted now, or null: while relationships use it (`usedBy` holds some of
 * their ids, `usedByCount` how many) or the organisation's settings name it.
 */
export function deleteConflict(channelId: string, settings: OrgSettingsState, usedBy: string[], usedByCount: number): string | null {
  const reasons: string[] = [];
  if (usedByCount > 0) {
    const shown = usedBy.slice(0, 5).join(', ') + (usedByCount > usedBy.length || usedBy.length > 5 ? ', …' : '');
    reasons.push(
      `${usedByCount} relationship${usedByCount === 1 ? ' uses' : 's use'} it (${shown}); assign them another channel first (PATCH /v1/relationships/{id})`,
    );
  }
  if (settings.defaultInboundChannelId === channelId) {
    reasons.push('it is the default inbound channel; change or clear it first (PUT /v1/settings/default-inbound-channel)');
  }
  if (settings.alertChannelId === channelId) {
    reasons.push('it is the alert channel; change or clear it first (PUT /v1/settings/alert-channel)');
  }
  return reasons.length > 0 ? `Channel ${channelId} cannot be deleted: ${reasons.join('; ')}.` : null;
}
