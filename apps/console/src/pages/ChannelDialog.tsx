import { FormEvent, useState } from 'react';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { ApiError, Channel, data, FieldError } from '../api/client';
import { Button, Dialog, ErrorBox, Field, ui } from '../components/ui';
import { AuthType, ChannelForm, channelRequest, emptyForm, formOf, validateChannelForm } from '../lib/channel-form';
import { useSession } from '../session';

/** The Create Channel / Edit pop-up: every field an operator sets, checked here and by the API. */
export function ChannelDialog({
  open,
  type,
  channel,
  onClose,
  onSaved,
}: {
  open: boolean;
  type: 'HTTP' | 'PULL';
  channel?: Channel;
  onClose: () => void;
  onSaved: (c: Channel) => void;
}) {
  const editing = Boolean(channel);
  const { api } = useSession();
  const queryClient = useQueryClient();
  const [form, setForm] = useState<ChannelForm>(() => (channel ? formOf(channel) : emptyForm(type)));
  const [errors, setErrors] = useState<FieldError[]>([]);
  const [problem, setProblem] = useState<unknown>(null);
  const set = <K extends keyof ChannelForm>(k: K, v: ChannelForm[K]) => setForm((f) => ({ ...f, [k]: v }));
  const err = (path: string) => errors.find((e) => e.path === path || e.path.startsWith(`${path}.`))?.message;

  const save = useMutation({
    mutationFn: async () => {
      const body = channelRequest(form, editing) as never;
      return channel
        ? data(api.PATCH('/v1/channels/{id}', { params: { path: { id: channel.id } }, body }))
        : data(api.POST('/v1/channels', { body }));
    },
    onSuccess: async (saved) => {
      await queryClient.invalidateQueries({ queryKey: ['channels'] });
      onSaved(saved as Channel);
    },
    onError: (e) => {
      if (e instanceof ApiError && e.errors.length > 0) setErrors(e.errors);
      setProblem(e);
    },
  });

  const submit = (e: FormEvent) => {
    e.preventDefault();
    setProblem(null);
    const found = validateChannelForm(form, editing, channel?.auth.type as AuthType | undefined);
    setErrors(found);
    if (found.length === 0) save.mutate();
  };

  const text = (k: keyof ChannelForm, label: string, path: string, opts: { type?: string; hint?: string; placeholder?: string } = {}) => (
    <Field label={label} error={err(path)} hint={opts.hint}>
      {(p) => (
        <input
          {...p}
          type={opts.type ?? 'text'}
          autoComplete="off"
          placeholder={opts.placeholder}
          value={String(form[k])}
          onChange={(e) => set(k, e.target.value as never)}
        />
      )}
    </Field>
  );
  const secretHint = editing && channel?.auth.type === form.authType ? 'Set — leave empty to keep it.' : undefined;
  const title = editing ? `Edit ${channel?.name}` : type === 'HTTP' ? 'Create HTTP channel' : 'Create Pull channel';

  return (
    <Dialog
      title={title}
      open={open}
      onClose={onClose}
      footer={
        <>
          <Button variant="secondary" onClick={onClose}>
            Cancel
          </Button>
          <Button type="submit" form="channel-form" disabled={save.isPending}>
            {editing ? 'Save' : 'Create'}
          </Button>
        </>
      }
    >
      <form id="channel-form" onSubmit={submit} noValidate>
        {problem ? <ErrorBox error={problem} /> : null}
        {errors.length > 0 && (
          <p className={ui.fieldError} role="alert">
            Please correct the {errors.length === 1 ? 'field' : `${errors.length} fields`} marked below.
          </p>
        )}
        {text('name', 'Name', 'body.name')}
        {form.type === 'HTTP' && text('url', 'URL', 'body.url', { placeholder: 'https://partner.example/orders', type: 'url' })}
        <div className={ui.grid2}>
          <Field label="Data format" error={err('body.format')}>
            {(p) => (
              <select {...p} value={form.format} onChange={(e) => set('format', e.target.value as ChannelForm['format'])}>
                <option value="JSON">JSON</option>
                <option value="XML">XML</option>
                <option value="X12">X12</option>
              </select>
            )}
          </Field>
          <Field label="Authorization type" error={err('body.auth.type')}>
            {(p) => (
              <select {...p} value={form.authType} onChange={(e) => set('authType', e.target.value as AuthType)}>
                <option value="NONE">None</option>
                <option value="BASIC">Basic</option>
                <option value="BEARER">Bearer token</option>
                <option value="OAUTH2_CLIENT_CREDENTIALS">OAuth2 client credentials</option>
              </select>
            )}
          </Field>
        </div>
        {form.authType === 'BASIC' && (
          <fieldset className={ui.fieldset}>
            <legend>Basic</legend>
            <div className={ui.grid2}>
              {text('username', 'Username', 'body.auth.username')}
              {text('password', 'Password', 'body.auth.password', { type: 'password', hint: secretHint })}
            </div>
          </fieldset>
        )}
        {form.authType === 'BEARER' && (
          <fieldset className={ui.fieldset}>
            <legend>Bearer</legend>
            {text('token', 'Token', 'body.auth.token', { type: 'password', hint: secretHint })}
          </fieldset>
        )}
        {form.authType === 'OAUTH2_CLIENT_CREDENTIALS' && (
          <fieldset className={ui.fieldset}>
            <legend>OAuth2 client credentials</legend>
            {text('tokenUrl', 'Token URL', 'body.auth.tokenUrl', { type: 'url' })}
            <div className={ui.grid2}>
              {text('clientId', 'Client ID', 'body.auth.clientId')}
              {text('clientSecret', 'Client secret', 'body.auth.clientSecret', { type: 'password', hint: secretHint })}
              {text('scope', 'Scope (optional)', 'body.auth.scope')}
              {text('audience', 'Audience (optional)', 'body.auth.audience')}
            </div>
          </fieldset>
        )}
        <fieldset className={ui.fieldset}>
          <legend>Retry policy</legend>
          <Field label="Strategy">
            {(p) => (
              <select {...p} value={form.strategy} onChange={(e) => set('strategy', e.target.value as ChannelForm['strategy'])}>
                <option value="fixed">Fixed delay</option>
                <option value="exponential">Exponential backoff</option>
              </select>
            )}
          </Field>
          {form.strategy === 'fixed' ? (
            <div className={ui.grid2}>
              {text('maxRetries', 'Retries (0–20)', 'body.retryPolicy.maxRetries', { type: 'number' })}
              {text('delayMs', 'Delay (ms)', 'body.retryPolicy.delayMs', { type: 'number' })}
            </div>
          ) : (
            <div className={ui.grid2}>
              {text('initialDelayMs', 'Initial delay (ms)', 'body.retryPolicy.initialDelayMs', { type: 'number' })}
              {text('factor', 'Factor (1–10)', 'body.retryPolicy.factor', { type: 'number' })}
              {text('maxDelayMs', 'Longest delay (ms)', 'body.retryPolicy.maxDelayMs', { type: 'number' })}
              {text('maxDurationMs', 'Give up after (ms)', 'body.retryPolicy.maxDurationMs', { type: 'number' })}
            </div>
          )}
        </fieldset>
        {form.type === 'HTTP' ? (
          <>
            <div className={ui.grid2}>
              {text('timeoutMs', 'Timeout (ms)', 'body.timeoutMs', { type: 'number' })}
              {text('maxConcurrency', 'Requests at once', 'body.maxConcurrency', { type: 'number' })}
            </div>
            <fieldset className={ui.fieldset}>
              <legend>Batching</legend>
              <div className={ui.row}>
                <input id="batch-enabled" type="checkbox" checked={form.batchEnabled} onChange={(e) => set('batchEnabled', e.target.checked)} />
                <label htmlFor="batch-enabled">Send several transactions in one request</label>
              </div>
              {form.batchEnabled && (
                <div className={ui.grid2}>
                  {text('batchMaxItems', 'Most items (1–50)', 'body.batch.maxItems', { type: 'number' })}
                  {text('batchMaxWaitMs', 'Longest wait (ms)', 'body.batch.maxWaitMs', { type: 'number' })}
                </div>
              )}
            </fieldset>
            <Field label="Static headers" error={err('body.headers')} hint="One “Name: value” a line.">
              {(p) => <textarea {...p} rows={2} value={form.headers} onChange={(e) => set('headers', e.target.value)} />}
            </Field>
          </>
        ) : (
          text('visibilityTimeoutMs', 'Visibility timeout (ms)', 'body.visibilityTimeoutMs', { type: 'number', hint: 'How long a leased message stays hidden before it returns to the queue.' })
        )}
        <div className={ui.row}>
          <input id="signing" type="checkbox" checked={form.signing} onChange={(e) => set('signing', e.target.checked)} />
          <label htmlFor="signing">Sign deliveries (Standard Webhooks)</label>
        </div>
      </form>
    </Dialog>
  );
}
