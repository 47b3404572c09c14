import type { Metrics } from '../metrics/metrics.ts'

export type DeliveryOutcome = 'delivered' | 'retrying' | 'failed'

/** What the webhook worker reports: each attempt's outcome, and the queue's depth as it last counted it. */
export interface WebhookMetrics {
  observeAttempt(outcome: DeliveryOutcome): void
  setQueueDepth(pending: number): void
}

/**
 * Registers the webhook metrics in this app's registry: `accord_webhook_queue_depth` (pending deliveries in
 * every instance, as this instance's worker last counted them: a scrape never queries, so it cannot wait for
 * a busy pool, which is when it matters most) and `accord_webhook_deliveries_total{outcome}` (this
 * instance's attempts: delivered, retrying, failed).
 */
export function createWebhookMetrics(metrics: Metrics): WebhookMetrics {
  const depth = metrics.gauge({
    name: 'accord_webhook_queue_depth',
    help: 'Webhook deliveries waiting to be sent (pending) in every instance, as last counted by this instance'
  })
  const total = metrics.counter({
    name: 'accord_webhook_deliveries_total',
    help: 'Webhook delivery attempts by this instance, by outcome: delivered, retrying (will be tried again), failed (no more tries)',
    labelNames: ['outcome']
  })
  for (const outcome of ['delivered', 'retrying', 'failed'] as const) total.inc({ outcome }, 0)
  return {
    observeAttempt: (outcome) => total.inc({ outcome }),
    setQueueDepth: (pending) => depth.set(pending)
  }
}
