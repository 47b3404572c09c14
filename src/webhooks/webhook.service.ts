import { lookup } from 'node:dns/promises'
import { appendEvent } from '../audit/append.service.ts'
import type { DbOrTx } from '../db/client.ts'
import { newId } from '../db/columns.ts'
import { transaction } from '../db/transaction.ts'
import type { Deps } from '../deps.ts'
import { DomainError } from '../errors.ts'
import { beginPartnerWrite, requireMembership } from '../partnerships/membership.service.ts'
import * as repo from './webhook.repo.ts'
import { assertPublicAddresses, checkWebhookUrl, MAX_WEBHOOKS } from './webhook.rules.ts'
import { newSecret, sealSecret } from './webhook.secret.ts'
import type { AttemptRow, DeliveryRow, WebhookRow } from './webhook.sql.ts'

type Use = Pick<Deps, 'db' | 'now' | 'config' | 'kek'>
interface WebhookTarget {
  partnershipId: string
  webhookId: string
  userId: string
}

const noSuchWebhook = (): DomainError => new DomainError('NOT_FOUND', 'no such webhook')
const RESOLVE_TIMEOUT_MS = 3000

/** Reads under a partnership are for its partners only: webhooks name URLs and deliveries (strangers: 404). */
async function requirePartner(db: DbOrTx, partnershipId: string, userId: string): Promise<void> {
  const membership = await requireMembership(db, partnershipId, userId)
  if (membership.role !== 'partner') throw new DomainError('FORBIDDEN', 'only partners manage webhooks')
}

/**
 * Refuses a URL Accord must not call: not https (unless private targets are allowed), or a host that is,
 * or resolves to, a loopback, private or link-local address. Checked again before every delivery (the
 * answer of DNS may change), so this is a courtesy to the partner, not the guard.
 */
export async function vetWebhookUrl(url: string, allowPrivate: boolean): Promise<void> {
  const { host, literal } = checkWebhookUrl(url, allowPrivate)
  if (literal || allowPrivate) return
  let timer: NodeJS.Timeout | undefined
  const addresses = await Promise.race([
    lookup(host, { all: true }).then(
      (found) => found.map((a) => a.address),
      () => []
    ),
    new Promise<string[]>((resolve) => {
      timer = setTimeout(() => resolve([]), RESOLVE_TIMEOUT_MS)
    })
  ]).finally(() => clearTimeout(timer))
  assertPublicAddresses(host, addresses)
}

/**
 * A partner registers a webhook: the URL is vetted, the secret made and shown once (the answer of this
 * call), `webhook.created` appended with the webhook's id and event types (never its URL or secret). At
 * most MAX_WEBHOOKS per partnership.
 */
export async function createWebhook(
  deps: Use,
  input: { partnershipId: string; userId: string; url: string; eventTypes: string[] }
): Promise<{ webhook: WebhookRow; secret: string }> {
  // Membership first: the URL's host is looked up in DNS (outside the transaction, which must not wait on it),
  // and a stranger must not get the server to resolve names for them, nor learn anything but 404.
  await requirePartner(deps.db, input.partnershipId, input.userId)
  await vetWebhookUrl(input.url, deps.config.webhooks.allowPrivate)
  return transaction(deps.db, async (tx) => {
    const { partnership } = await beginPartnerWrite(tx, input.partnershipId, input.userId)
    if ((await repo.countWebhooks(tx, partnership.id)) >= MAX_WEBHOOKS)
      throw new DomainError('TOO_MANY_WEBHOOKS', `a partnership has at most ${MAX_WEBHOOKS} webhooks: delete one first`)
    const secret = newSecret()
    const id = newId()
    const sealed = sealSecret(deps.kek, id, secret)
    const webhook = await repo.insertWebhook(tx, {
      id,
      partnershipId: partnership.id,
      url: input.url,
      eventTypes: input.eventTypes,
      secretScheme: sealed.scheme,
      secretCiphertext: sealed.ciphertext,
      createdBy: input.userId,
      createdAt: deps.now()
    })
    await appendEvent(tx, deps.now, {
      partnershipId: partnership.id,
      type: 'webhook.created',
      actorId: input.userId,
      subject: { type: 'webhook', id: webhook.id },
      data: { eventTypes: input.eventTypes }
    })
    return { webhook, secret }
  })
}

export async function listWebhooks(
  deps: Pick<Deps, 'db'>,
  input: { partnershipId: string; userId: string; afterId: string | null; limit: number }
): Promise<WebhookRow[]> {
  await requirePartner(deps.db, input.partnershipId, input.userId)
  return repo.listWebhooks(deps.db, input.partnershipId, input.afterId, input.limit)
}

export async function getWebhook(deps: Pick<Deps, 'db'>, input: WebhookTarget): Promise<WebhookRow> {
  await requirePartner(deps.db, input.partnershipId, input.userId)
  const webhook = await repo.findWebhook(deps.db, input.partnershipId, input.webhookId)
  if (!webhook) throw noSuchWebhook()
  return webhook
}

/** A partner deletes a webhook: nothing more is sent to it, its pending deliveries included; `webhook.deleted`. */
export async function deleteWebhook(deps: Use, input: WebhookTarget): Promise<void> {
  await transaction(deps.db, async (tx) => {
    const { partnership } = await beginPartnerWrite(tx, input.partnershipId, input.userId)
    const webhook = await repo.findWebhook(tx, partnership.id, input.webhookId, true)
    if (!webhook) throw noSuchWebhook()
    await repo.updateWebhook(tx, webhook.id, { deletedAt: deps.now() })
    await repo.abandonPending(tx, webhook.id)
    await appendEvent(tx, deps.now, {
      partnershipId: partnership.id,
      type: 'webhook.deleted',
      actorId: input.userId,
      subject: { type: 'webhook', id: webhook.id },
      data: {}
    })
  })
}

/**
 * A partner leaves (or is erased), inside that transaction: the webhooks they registered are deleted, their
 * pending deliveries abandoned, one `webhook.deleted` each (`reason`), so nothing of the partnership is sent
 * to their endpoints any more.
 */
export async function deleteWebhooksOf(
  tx: DbOrTx,
  now: () => Date,
  input: { partnershipId: string; userId: string; reason: 'partner-left' | 'erased' }
): Promise<number> {
  const found = await repo.lockWebhooksCreatedBy(tx, input.partnershipId, input.userId)
  for (const webhook of found) {
    await repo.updateWebhook(tx, webhook.id, { deletedAt: now() })
    await repo.abandonPending(tx, webhook.id)
    await appendEvent(tx, now, {
      partnershipId: input.partnershipId,
      type: 'webhook.deleted',
      actorId: input.userId,
      subject: { type: 'webhook', id: webhook.id },
      data: { reason: input.reason }
    })
  }
  return found.length
}

/** The partnerships where a person still has live webhooks. */
export const partnershipsWithWebhooksOf = (db: DbOrTx, userId: string): Promise<string[]> =>
  repo.partnershipsWithWebhooksOf(db, userId)

/** A webhook's deliveries, newest first, each with its attempts (oldest first). */
export async function listDeliveries(
  deps: Pick<Deps, 'db'>,
  input: WebhookTarget & { beforeId: string | null; limit: number }
): Promise<Array<{ delivery: DeliveryRow; attempts: AttemptRow[] }>> {
  const webhook = await getWebhook(deps, input)
  const rows = await repo.listDeliveries(deps.db, webhook.id, input.beforeId, input.limit)
  const attempts = await repo.listAttempts(
    deps.db,
    rows.map((d) => d.id)
  )
  return rows.map((delivery) => ({ delivery, attempts: attempts.filter((a) => a.deliveryId === delivery.id) }))
}

/**
 * A partner asks for one more delivery of a message, now, whatever became of it: the same message (the
 * same `webhook-id`), sent by the next worker pass. Not for a disabled webhook (409). The lease is cleared, so
 * an attempt in flight meanwhile is recorded but does not settle the delivery: the replay still happens.
 * Appends no event: it changes nothing of the partnership, only when a message is sent again.
 */
export async function replayDelivery(
  deps: Use,
  input: WebhookTarget & { deliveryId: string }
): Promise<{ delivery: DeliveryRow; attempts: AttemptRow[] }> {
  return transaction(deps.db, async (tx) => {
    const { partnership } = await beginPartnerWrite(tx, input.partnershipId, input.userId)
    const webhook = await repo.findWebhook(tx, partnership.id, input.webhookId)
    if (!webhook) throw noSuchWebhook()
    if (webhook.disabledAt !== null)
      throw new DomainError('CONFLICT', 'the webhook is disabled: register it again to receive deliveries')
    const found = await repo.findDelivery(tx, webhook.id, input.deliveryId, true)
    if (!found) throw new DomainError('NOT_FOUND', 'no such delivery')
    await repo.updateDelivery(tx, found.id, { status: 'pending', nextAttemptAt: deps.now(), leaseUntil: null })
    const delivery = (await repo.findDelivery(tx, webhook.id, found.id))!
    return { delivery, attempts: await repo.listAttempts(tx, [delivery.id]) }
  })
}
