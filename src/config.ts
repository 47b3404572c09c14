import { join } from 'node:path'
import { EnvSchema, type TrustedIssuer } from './config.env.ts'

/**
 * The only reader of process.env. Every variable is parsed and validated here at
 * start; a bad value stops the process with a message that names the variable.
 * The result is frozen and passed down explicitly.
 */

export interface Config {
  readonly env: 'development' | 'test' | 'production'
  readonly port: number
  readonly host: string
  readonly publicUrl: string
  readonly database:
    | {
        readonly kind: 'postgres'
        readonly url: string
        /**
         * Where the one LISTEN connection of the live event stream's wake-ups goes: DATABASE_LISTEN_URL, else
         * `url`. A transaction pooler (PgBouncer) does not carry LISTEN, so behind one it names PostgreSQL itself.
         */
        readonly listenUrl: string
        readonly poolMax: number
        readonly connectTimeoutS: number
        readonly statementTimeoutMs: number
        readonly prepare: boolean
      }
    | { readonly kind: 'pglite'; readonly dataDir: string | null }
  readonly auth: {
    readonly audience: string
    readonly issuers: readonly TrustedIssuer[]
    readonly jwksTimeoutMs: number
    /** How long an external issuer's key set is used before it is fetched again (a removed key stops working then). */
    readonly jwksCacheMaxAgeMs: number
    readonly tokenTtlSeconds: number
    /** POST /v1/dev/tokens exists: DEV_TOKENS when set, else only outside production on a loopback address. */
    readonly devTokens: boolean
    /**
     * Unless DEV_TOKENS=true says otherwise, only loopback clients, not forwarded by a proxy, may mint: a server on
     * 127.0.0.1 behind nginx on the same machine would otherwise mint tokens for the whole internet.
     */
    readonly devTokensLoopbackOnly: boolean
  }
  readonly corsOrigins: readonly string[]
  readonly rateLimitPerMinute: number
  /** Failed authentications (401s) an address may cause in a minute before its requests get 429. */
  readonly authFailuresPerMinute: number
  /** Memory for rendered GET agreement bodies (validated against the database on every request); 0 turns it off. */
  readonly agreementCacheBytes: number
  /** Memory for agenda lists kept per caller (validated against the partnership's log on every request); 0 turns it off. */
  readonly agendaCacheBytes: number
  /** Memory for pages of GET …/events as sent (validated by membership and the rows' versions on every request); 0 turns it off. */
  readonly eventsCacheBytes: number
  readonly requestTimeoutMs: number
  /** Mean event-loop delay over a second past which every request is shed with 503 `overloaded`; 0: never. */
  readonly overloadEventLoopDelayMs: number
  readonly shutdownGraceMs: number
  /** How often this instance looks for due reviews; 0 turns the scheduler off in this instance. */
  readonly schedulerIntervalMs: number
  readonly webhooks: {
    /** How often this instance looks for due deliveries when it found none; 0 turns the worker off here. */
    readonly workerIntervalMs: number
    /** `http:` URLs and loopback, private and link-local addresses allowed (development and tests only). */
    readonly allowPrivate: boolean
    /** The whole of one attempt: connecting, sending, the answer's head and up to 4 KiB of its body. */
    readonly timeoutMs: number
    /** How long a claimed delivery is this instance's alone; longer than the timeout, so one sender at a time. */
    readonly leaseMs: number
  }
  /** Required as `Authorization: Bearer …` by GET /metrics when set; null: /metrics is for loopback clients only. */
  readonly metricsToken: string | null
  /** The live event stream (GET …/events/stream) of this instance. */
  readonly stream: {
    /** A comment line at least this often on every open stream, so proxies and clients see it alive (≤ 30 s). */
    readonly heartbeatMs: number
    /** How often an instance with subscribers checks the logs' heads itself, in case a wake-up was lost. */
    readonly pollMs: number
    /** Open streams per user on this instance (beyond: 429). */
    readonly maxPerUser: number
    /** Open streams on this instance (beyond: 429). */
    readonly maxPerInstance: number
  }
  /** The key-encryption key that seals secrets at rest (keys/kek.ts). */
  readonly secrets: {
    /** SECRET_KEY (base64 of 32 bytes); null: the key file, or an ephemeral key when there is none. */
    readonly key: string | null
    /** `<DATA_DIR>/secret.key`, used when SECRET_KEY is unset; null with DATA_DIR=:memory: (ephemeral key). */
    readonly keyFile: string | null
    /** SECRET_KEY_EXTRA: keys that open secrets sealed before a rotation, never used to seal. */
    readonly extraKeys: readonly string[]
    /** NEW_SECRET_KEY, read by `npm run secrets:rotate` only. */
    readonly newKey: string | null
  }
  readonly logLevel: string
  /** Running under `npm start`: the server stops if npm goes away. */
  readonly startedByNpm: boolean
}

export class ConfigError extends Error {
  override name = 'ConfigError'
}

/** Parses the environment into a frozen Config; throws ConfigError naming every bad variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const input = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''))
  const parsed = EnvSchema.safeParse(input)
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${String(i.path[0] ?? '?')}: ${i.message}`)
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`)
  }
  const e = parsed.data
  if (e.WEBHOOK_LEASE_MS < e.WEBHOOK_TIMEOUT_MS + 1000)
    throw new ConfigError(
      'invalid configuration:\n  WEBHOOK_LEASE_MS: must be at least WEBHOOK_TIMEOUT_MS + 1000 (one sender of a delivery at a time)'
    )
  if (e.DATABASE_LISTEN_URL && !e.DATABASE_URL)
    throw new ConfigError(
      'invalid configuration:\n  DATABASE_LISTEN_URL: needs DATABASE_URL (it is where PostgreSQL listens for wake-ups; PGlite has none)'
    )
  if (e.NODE_ENV === 'production' && e.DATABASE_URL && !e.SECRET_KEY && e.DATA_DIR === ':memory:')
    throw new ConfigError(
      'invalid configuration:\n  SECRET_KEY: required in production on PostgreSQL with DATA_DIR=:memory: (an ephemeral key would make the sealed secrets unreadable after a restart)'
    )
  const displayHost = e.HOST === '0.0.0.0' || e.HOST === '::' ? '127.0.0.1' : e.HOST
  const config: Config = {
    env: e.NODE_ENV,
    port: e.PORT,
    host: e.HOST,
    publicUrl: (
      e.PUBLIC_URL ?? `http://${displayHost.includes(':') ? `[${displayHost}]` : displayHost}:${e.PORT}`
    ).replace(/\/+$/, ''),
    database: e.DATABASE_URL
      ? {
          kind: 'postgres',
          url: e.DATABASE_URL,
          listenUrl: e.DATABASE_LISTEN_URL ?? e.DATABASE_URL,
          poolMax: e.DATABASE_POOL_MAX,
          connectTimeoutS: e.DATABASE_CONNECT_TIMEOUT_S,
          statementTimeoutMs: e.DATABASE_STATEMENT_TIMEOUT_MS,
          prepare: e.DATABASE_PREPARE
        }
      : { kind: 'pglite', dataDir: e.DATA_DIR === ':memory:' ? null : e.DATA_DIR },
    auth: {
      audience: e.AUTH_AUDIENCE,
      issuers: e.AUTH_ISSUERS,
      jwksTimeoutMs: e.JWKS_TIMEOUT_MS,
      jwksCacheMaxAgeMs: e.JWKS_CACHE_MAX_AGE_MS,
      tokenTtlSeconds: e.TOKEN_TTL_SECONDS,
      devTokens: e.DEV_TOKENS ?? (e.NODE_ENV !== 'production' && isLoopback(e.HOST)),
      devTokensLoopbackOnly: e.DEV_TOKENS === undefined
    },
    corsOrigins: e.CORS_ORIGINS,
    rateLimitPerMinute: e.RATE_LIMIT_PER_MINUTE,
    authFailuresPerMinute: e.AUTH_FAILURES_PER_MINUTE,
    agreementCacheBytes: e.AGREEMENT_CACHE_MB * 1024 * 1024,
    agendaCacheBytes: e.AGENDA_CACHE_MB * 1024 * 1024,
    eventsCacheBytes: e.EVENTS_CACHE_MB * 1024 * 1024,
    requestTimeoutMs: e.REQUEST_TIMEOUT_MS,
    overloadEventLoopDelayMs: e.OVERLOAD_EVENT_LOOP_DELAY_MS,
    shutdownGraceMs: e.SHUTDOWN_GRACE_MS,
    schedulerIntervalMs: e.SCHEDULER_INTERVAL_MS,
    webhooks: {
      workerIntervalMs: e.WEBHOOK_WORKER_INTERVAL_MS,
      allowPrivate: e.WEBHOOK_ALLOW_PRIVATE,
      timeoutMs: e.WEBHOOK_TIMEOUT_MS,
      leaseMs: e.WEBHOOK_LEASE_MS
    },
    metricsToken: e.METRICS_TOKEN ?? null,
    stream: {
      heartbeatMs: e.STREAM_HEARTBEAT_MS,
      pollMs: e.STREAM_POLL_MS,
      maxPerUser: e.STREAM_MAX_PER_USER,
      maxPerInstance: e.STREAM_MAX_PER_INSTANCE
    },
    secrets: {
      key: e.SECRET_KEY ?? null,
      keyFile: e.DATA_DIR === ':memory:' ? null : join(e.DATA_DIR, 'secret.key'),
      extraKeys: e.SECRET_KEY_EXTRA ?? [],
      newKey: e.NEW_SECRET_KEY ?? null
    },
    logLevel: e.LOG_LEVEL,
    startedByNpm: e.npm_lifecycle_event === 'start'
  }
  return deepFreeze(config)
}

/** Whether a listen address is reachable only from this machine (127.0.0.0/8, ::1, localhost). */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase()
  return h === 'localhost' || h === '::1' || /^127(\.\d{1,3}){3}$/.test(h) || h === '::ffff:127.0.0.1'
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v)
    Object.freeze(value)
  }
  return value
}
