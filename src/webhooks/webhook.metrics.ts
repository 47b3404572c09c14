import type { Db } from '../db/client.ts'
import type { Metrics } from '../metrics/metrics.ts'
import { countPending } from './webhook.repo.ts'

export type DeliveryOutcome = 'delivered' | 'retrying' | 'failed'

/** What the webhook worker reports: each attempt's outcome. */
export interface WebhookMetrics {
  observeAttempt(outcome: DeliveryOutcome): void
}

/**
 * Registers the webhook metrics in this app's registry: `accord_webhook_queue_depth` (pending deliveries in
 * every instance, one count over the partial index of pending rows at scrape time) and
 * `accord_webhook_deliveries_total{outcome}` (this instance's attempts: delivered, retrying, failed).
 */
export function createWebhookMetrics(metrics: Metrics, db: Db): WebhookMetrics {
  metrics.gauge({
    name: 'accord_webhook_queue_depth',
    help: 'Webhook deliveries waiting to be sent (pending), in every instance',
    collect: async (gauge) => {
      gauge.set(await countPending(db))
    }
  })
  const total = metrics.counter({
    name: 'accord_webhook_deliveries_total',
    help: 'Webhook delivery attempts by this instance, by outcome: delivered, retrying (will be tried again), failed (no more tries)',
    labelNames: ['outcome']
  })
  for (const outcome of ['delivered', 'retrying', 'failed'] as const) total.inc({ outcome }, 0)
  return { observeAttempt: (outcome) => total.inc({ outcome }) }
}
