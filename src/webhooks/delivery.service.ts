import { LRUCache } from 'lru-cache'
import { uuidv7 } from 'uuidv7'
import { appendEvent } from '../audit/append.service.ts'
import { transaction } from '../db/transaction.ts'
import type { Deps } from '../deps.ts'
import type { Kek } from '../keys/kek.ts'
import { lockPartnership } from '../partnerships/partnership.repo.ts'
import * as deliveries from './delivery.repo.ts'
import { sendDelivery } from './delivery.sender.ts'
import type { DeliveryOutcome } from './webhook.metrics.ts'
import * as repo from './webhook.repo.ts'
import { deliveryPayload, retryDelayMs, shouldDisable } from './webhook.rules.ts'
import { openSecret } from './webhook.secret.ts'

export type WorkerDeps = Pick<Deps, 'db' | 'now' | 'config' | 'kek' | 'webhookMetrics'>

/** Deliveries claimed in one go, and sent at once (each receiver's connections are capped by its agent). */
export const CLAIM_BATCH = 200
export const CONCURRENCY = 64

// Opened secrets of the webhooks being delivered to, by KEK, webhook and ciphertext (a rotated secret or KEK is
// another ciphertext, so another entry): opening one (an AES-GCM key and decipher) was a twentieth of the worker's
// CPU when every delivery opened its webhook's. Bounded in number, and dropped an hour after last use.
const openedSecrets = new WeakMap<Kek, LRUCache<string, string>>()
function secretOf(kek: Kek, claimed: deliveries.ClaimedDelivery): string {
  let opened = openedSecrets.get(kek)
  if (opened === undefined) {
    opened = new LRUCache({ max: 1000, ttl: 3_600_000, updateAgeOnGet: true, ttlAutopurge: true })
    openedSecrets.set(kek, opened)
  }
  const key = `${claimed.delivery.webhookId}\n${claimed.secretScheme}\n${claimed.secretCiphertext}`
  let secret = opened.get(key)
  if (secret === undefined) {
    secret = openSecret(kek, claimed.delivery.webhookId, {
      scheme: claimed.secretScheme,
      ciphertext: claimed.secretCiphertext
    })
    opened.set(key, secret)
  }
  return secret
}

/** Claims up to `limit` due deliveries for this instance (leased for WEBHOOK_LEASE_MS). */
export function claimDeliveries(deps: WorkerDeps, limit: number): Promise<deliveries.ClaimedDelivery[]> {
  const now = deps.now()
  return deliveries.claimDue(deps.db, now, new Date(now.getTime() + deps.config.webhooks.leaseMs), limit)
}

/**
 * Sends one claimed delivery, outside any transaction, then records the attempt and what follows in one
 * transaction (a success with the others that finish meanwhile, in one statement: recordDeliveredGrouped):
 * delivered; or tried again after the backoff (same `webhook-id`); or failed after the last try. A
 * webhook failing without a success for 5 days is disabled. Never throws for the receiver's sake; a
 * database failure while recording leaves the lease to run out, and the delivery is sent again.
 */
export async function deliverOne(deps: WorkerDeps, claimed: deliveries.ClaimedDelivery): Promise<DeliveryOutcome> {
  const { delivery } = claimed
  const result = await sendDelivery({
    url: claimed.url,
    secret: secretOf(deps.kek, claimed),
    deliveryId: delivery.id,
    body: deliveryPayload(delivery),
    at: deps.now(),
    timeoutMs: deps.config.webhooks.timeoutMs,
    allowPrivate: deps.config.webhooks.allowPrivate
  })
  const at = deps.now()
  // The common case, a success for a webhook that was not failing: recorded with the others that finish meanwhile.
  if (result.ok && claimed.failingSince === null) {
    await deliveries.recordDeliveredGrouped(deps.db, {
      id: uuidv7(),
      deliveryId: delivery.id,
      at,
      statusCode: result.statusCode!,
      latencyMs: result.latencyMs,
      claimedUntil: delivery.leaseUntil!
    })
    deps.webhookMetrics.observeAttempt('delivered')
    return 'delivered'
  }
  const delay = result.ok ? null : retryDelayMs(delivery.attemptCount, Math.random())
  const outcome: DeliveryOutcome = result.ok ? 'delivered' : delay === null ? 'failed' : 'retrying'
  const failingSince = await transaction(deps.db, async (tx) => {
    await deliveries.insertAttempt(tx, {
      deliveryId: delivery.id,
      at,
      statusCode: result.statusCode,
      latencyMs: result.latencyMs,
      error: result.error
    })
    await repo.updateDelivery(
      tx,
      delivery.id,
      outcome === 'retrying'
        ? { status: 'pending', nextAttemptAt: new Date(at.getTime() + delay!), leaseUntil: null }
        : { status: outcome, nextAttemptAt: null, leaseUntil: null },
      delivery.leaseUntil!
    )
    if (result.ok) {
      if (claimed.failingSince !== null) await repo.updateWebhook(tx, delivery.webhookId, { failingSince: null })
      return null
    }
    return claimed.failingSince ?? (await repo.markFailing(tx, delivery.webhookId, at))
  })
  deps.webhookMetrics.observeAttempt(outcome)
  if (shouldDisable(failingSince, at)) await disableWebhook(deps, delivery.partnershipId, delivery.webhookId)
  return outcome
}

/**
 * Disables a webhook that has failed for 5 days without a success: under its partnership's lock (as every
 * event is appended), checked again there, its pending deliveries abandoned, `webhook.disabled` appended.
 */
export async function disableWebhook(deps: WorkerDeps, partnershipId: string, webhookId: string): Promise<boolean> {
  return transaction(deps.db, async (tx) => {
    if (!(await lockPartnership(tx, partnershipId))) return false
    const webhook = await repo.lockWebhookById(tx, webhookId)
    const now = deps.now()
    if (!webhook || webhook.deletedAt !== null || webhook.disabledAt !== null) return false
    if (!shouldDisable(webhook.failingSince, now)) return false
    await repo.updateWebhook(tx, webhook.id, { disabledAt: now })
    await repo.abandonPending(tx, webhook.id)
    await appendEvent(tx, deps.now, {
      partnershipId,
      type: 'webhook.disabled',
      actorId: null,
      subject: { type: 'webhook', id: webhook.id },
      data: { failingSince: webhook.failingSince!.toISOString() }
    })
    return true
  })
}

/** Counts the pending deliveries (one count over the partial index of pending rows) for the queue-depth gauge. */
export async function measureQueue(deps: WorkerDeps): Promise<void> {
  deps.webhookMetrics.setQueueDepth(await deliveries.countPending(deps.db))
}

export interface DeliverResult {
  claimed: number
  delivered: number
  retrying: number
  failed: number
}

/**
 * One pass of the worker (tests call it directly, as `runDueWork`): claims up to `limit` due deliveries,
 * sends them CONCURRENCY at a time and records each. Safe in any number of instances at once.
 */
export async function deliverDue(deps: WorkerDeps, limit = CLAIM_BATCH): Promise<DeliverResult> {
  const claimed = await claimDeliveries(deps, limit)
  const result: DeliverResult = { claimed: claimed.length, delivered: 0, retrying: 0, failed: 0 }
  let next = 0
  const lane = async () => {
    while (next < claimed.length) {
      const one = claimed[next++]!
      result[await deliverOne(deps, one)]++
    }
  }
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, claimed.length) }, lane))
  await measureQueue(deps)
  return result
}
