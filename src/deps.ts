import { type AgendaBodies, agendaBodies } from './agenda/agenda.render.ts'
import { type AgreementBodies, agreementBodies } from './agreements/agreement.render.ts'
import { type EventPages, eventPages } from './audit/event.render.ts'
import type { Config } from './config.ts'
import type { Database, Db } from './db/client.ts'
import type { Authenticator } from './http/authenticator.ts'
import type { Kek } from './keys/kek.ts'
import type { ServiceKeys } from './keys/key.service.ts'
import type { ServerSecrets } from './keys/server-secret.service.ts'
import { createMetrics, type Metrics } from './metrics/metrics.ts'
import { createWebhookMetrics, type WebhookMetrics } from './webhooks/webhook.metrics.ts'

/** What use cases need from the outside world, passed explicitly (no container). */
export interface Deps {
  readonly config: Config
  readonly database: Database
  readonly db: Db
  readonly keys: ServiceKeys
  /** The key-encryption key that seals secrets at rest (keys/kek.ts). */
  readonly kek: Kek
  /** The service's symmetric secrets, sealed under the KEK in the database (keys/server-secret.service.ts). */
  readonly serverSecrets: ServerSecrets
  readonly authenticator: Authenticator
  /** Rendered GET agreement bodies by ETag version; null when AGREEMENT_CACHE_MB=0. */
  readonly agreementBodies: AgreementBodies | null
  /** Agenda lists by partnership and caller, validated against the log head; null when AGENDA_CACHE_MB=0. */
  readonly agendaBodies: AgendaBodies | null
  /** Pages of GET …/events as sent, validated by membership and the rows' versions; null when EVENTS_CACHE_MB=0. */
  readonly eventPages: EventPages | null
  /** This app's metrics (GET /metrics); capabilities add their own through it. */
  readonly metrics: Metrics
  /** What the webhook worker reports (registered in `metrics`). */
  readonly webhookMetrics: WebhookMetrics
  /** The clock; tests inject one they can move. */
  readonly now: () => Date
}

/**
 * Wires the dependencies over an opened, migrated database (server, scripts and tests all use this).
 * Secrets still stored in the clear are sealed here, and a KEK that does not open the database's
 * secrets throws KekError: the process does not start.
 */
export async function assembleDeps(
  config: Config,
  database: Database,
  now: () => Date = () => new Date()
): Promise<Deps> {
  const { loadServiceKeys } = await import('./keys/key.service.ts')
  const { createAuthenticator } = await import('./http/authenticator.ts')
  const { loadKek } = await import('./keys/kek.ts')
  const { sealPlainWebhookSecrets } = await import('./webhooks/secret.service.ts')
  const kek = loadKek(config.secrets)
  const keys = await loadServiceKeys(database.db, now, kek)
  const { loadServerSecrets } = await import('./keys/server-secret.service.ts')
  const serverSecrets = await loadServerSecrets(database.db, kek, now)
  await sealPlainWebhookSecrets(database.db, kek)
  const { sealPlainTexts } = await import('./orchestration/plain-texts.service.ts')
  await sealPlainTexts({ db: database.db, kek, now })
  const metrics = createMetrics(database)
  return {
    config,
    database,
    db: database.db,
    keys,
    kek,
    serverSecrets,
    authenticator: createAuthenticator(config, keys, now),
    agreementBodies: agreementBodies(config.agreementCacheBytes),
    agendaBodies: agendaBodies(config.agendaCacheBytes),
    eventPages: eventPages(config.eventsCacheBytes),
    metrics,
    webhookMetrics: createWebhookMetrics(metrics),
    now
  }
}
