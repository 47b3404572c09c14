import { join } from 'node:path'
import { z } from 'zod'

/**
 * The only reader of process.env. Every variable is parsed and validated here at
 * start; a bad value stops the process with a message that names the variable.
 * The result is frozen and passed down explicitly.
 */

const IssuerSchema = z
  .object({
    issuer: z.string().min(1),
    jwksUri: z.url({ protocol: /^https?$/ }),
    audience: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).optional(),
    algorithms: z
      .array(
        z.enum(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'])
      )
      .min(1)
      .optional()
  })
  .strict()
export type TrustedIssuer = z.infer<typeof IssuerSchema>

const bool = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1')
const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max)
/** A 256-bit key as standard base64 (e.g. `openssl rand -base64 32`). */
const key32 = z
  .string()
  .refine(
    (v) => /^[A-Za-z0-9+/]{43}=$/.test(v) && Buffer.from(v, 'base64').length === 32,
    'must be the base64 of exactly 32 bytes (e.g. openssl rand -base64 32)'
  )

const EnvSchema = z.object({
  NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
  DEV_TOKENS: bool.optional(),
  PORT: int(0, 65535).default(3000),
  HOST: z.string().min(1).default('127.0.0.1'),
  PUBLIC_URL: z.url({ protocol: /^https?$/ }).optional(),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL')
    .optional(),
  /** The LISTEN connection's own URL: PostgreSQL itself when DATABASE_URL goes through a transaction pooler. */
  DATABASE_LISTEN_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL')
    .optional(),
  DATA_DIR: z.string().min(1).default('./data'),
  DATABASE_POOL_MAX: int(1, 200).default(10),
  DATABASE_CONNECT_TIMEOUT_S: int(1, 60).default(5),
  DATABASE_STATEMENT_TIMEOUT_MS: int(0, 600_000).default(10_000),
  DATABASE_PREPARE: bool.default(true),
  AUTH_AUDIENCE: z.string().min(1).default('accord'),
  AUTH_ISSUERS: z
    .string()
    .default('[]')
    .transform((raw, ctx) => {
      let parsed: unknown
      try {
        parsed = JSON.parse(raw)
      } catch {
        ctx.addIssue({ code: 'custom', message: 'must be a JSON array' })
        return z.NEVER
      }
      const result = z.array(IssuerSchema).safeParse(parsed)
      if (!result.success) {
        ctx.addIssue({
          code: 'custom',
          message: result.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')
        })
        return z.NEVER
      }
      return result.data
    }),
  JWKS_TIMEOUT_MS: int(100, 30_000).default(3000),
  JWKS_CACHE_MAX_AGE_MS: int(1000, 86_400_000).default(600_000),
  TOKEN_TTL_SECONDS: int(60, 86_400).default(3600),
  CORS_ORIGINS: z
    .string()
    .default('')
    .transform((raw, ctx) => {
      const origins = raw
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
      for (const o of origins) {
        if (o === '*' || !/^https?:\/\/[^/\s]+$/.test(o))
          ctx.addIssue({ code: 'custom', message: `"${o}" is not an origin like https://app.example.com` })
      }
      return origins
    }),
  RATE_LIMIT_PER_MINUTE: int(1, 1_000_000).default(600),
  AUTH_FAILURES_PER_MINUTE: int(1, 1_000_000).default(30),
  AGREEMENT_CACHE_MB: int(0, 4096).default(16),
  AGENDA_CACHE_MB: int(0, 4096).default(16),
  EVENTS_CACHE_MB: int(0, 4096).default(32),
  REQUEST_TIMEOUT_MS: int(1000, 300_000).default(30_000),
  SHUTDOWN_GRACE_MS: int(100, 120_000).default(10_000),
  SCHEDULER_INTERVAL_MS: int(0, 3_600_000).default(30_000),
  WEBHOOK_WORKER_INTERVAL_MS: int(0, 3_600_000).default(250),
  WEBHOOK_ALLOW_PRIVATE: bool.default(false),
  WEBHOOK_TIMEOUT_MS: int(100, 30_000).default(5000),
  WEBHOOK_LEASE_MS: int(1000, 3_600_000).default(60_000),
  /** A bearer token for GET /metrics from anywhere; unset, /metrics answers loopback clients only. */
  METRICS_TOKEN: z
    .string()
    .min(32, 'must be at least 32 characters (e.g. openssl rand -hex 32)')
    .regex(/^[A-Za-z0-9\-._~+/]+=*$/, 'must be a bearer token: letters, digits and - . _ ~ + / (then = padding)')
    .optional(),
  STREAM_HEARTBEAT_MS: int(50, 30_000).default(15_000),
  STREAM_POLL_MS: int(50, 60_000).default(1000),
  STREAM_MAX_PER_USER: int(1, 1000).default(5),
  STREAM_MAX_PER_INSTANCE: int(1, 100_000).default(1000),
  SECRET_KEY: key32.optional(),
  /** Keys that still open secrets but never seal them: a rotation in progress (README, "Secrets at rest"). */
  SECRET_KEY_EXTRA: z
    .string()
    .transform((v) =>
      v
        .split(',')
        .map((k) => k.trim())
        .filter(Boolean)
    )
    .pipe(z.array(key32).max(4))
    .optional(),
  /** Only for `npm run secrets:rotate`: the key every secret is sealed under afterwards. */
  NEW_SECRET_KEY: key32.optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Set by npm for the script it runs: `start` under `npm start`. */
  npm_lifecycle_event: z.string().optional()
})

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
      devTokens: e.DEV_TOKENS ?? (e.NODE_ENV !== 'production' && isLoopback(e.HOST))
    },
    corsOrigins: e.CORS_ORIGINS,
    rateLimitPerMinute: e.RATE_LIMIT_PER_MINUTE,
    authFailuresPerMinute: e.AUTH_FAILURES_PER_MINUTE,
    agreementCacheBytes: e.AGREEMENT_CACHE_MB * 1024 * 1024,
    agendaCacheBytes: e.AGENDA_CACHE_MB * 1024 * 1024,
    eventsCacheBytes: e.EVENTS_CACHE_MB * 1024 * 1024,
    requestTimeoutMs: e.REQUEST_TIMEOUT_MS,
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
