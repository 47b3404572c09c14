import { z } from 'zod'

// What every environment variable may hold: parsed and checked at start by loadConfig (config.ts), which turns
// the result into the frozen Config passed down.

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

export const EnvSchema = z.object({
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
  OVERLOAD_EVENT_LOOP_DELAY_MS: int(0, 60_000).default(2000),
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
