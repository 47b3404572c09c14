import { randomUUID } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import type { FastifyBaseLogger, FastifyServerOptions } from 'fastify'
import { safeDbErrorSummary } from '../db/errors.ts'

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/

/** A caller's x-request-id is kept when it is a sane token, so traces join up; otherwise we mint one. */
export function requestIdOf(req: IncomingMessage): string {
  const incoming = req.headers['x-request-id']
  return typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID()
}

const CALENDAR_FEED_ROUTE = '/v1/calendar/:file'

/**
 * The path of a request as logged: never its query, and never a secret (calendar
 * feed tokens). Decided on the routed path, not the raw URL: `/v1/%63alendar/…`
 * is the calendar route too. An unmatched path is percent-decoded before it is
 * masked, and any token-shaped secret is masked wherever it appears.
 */
export function safeUrl(req: { url?: string; routeOptions?: { url?: string | undefined } }): string {
  if (req.routeOptions?.url === CALENDAR_FEED_ROUTE) return '/v1/calendar/[redacted]'
  const path = (req.url ?? '').split('?')[0]!
  let decoded = path
  try {
    decoded = decodeURIComponent(path)
  } catch {}
  return decoded
    .replace(/(\/v1\/calendar\/)[^/]+/i, '$1[redacted]')
    .replace(/acc_(cal|inv)_[^/]*/gi, 'acc_$1_[redacted]')
}

const framesOf = (err: Error): string | undefined =>
  err.stack
    ?.split('\n')
    .filter((l) => l.trimStart().startsWith('at '))
    .join('\n')

/**
 * How every error is logged (pino's `err` serializer, which Fastify's own
 * error lines use too): its type, its code, the SQLSTATE, constraint and table
 * of a database error under it, and its stack frames. Never its message:
 * messages of database errors carry the values of the query (agreement text,
 * names), and any other message may quote input.
 */
export function describeFailure(err: unknown): Record<string, unknown> {
  if (!(err instanceof Error)) return { type: typeof err }
  const code = (err as { code?: unknown }).code
  return {
    type: err.name,
    ...(typeof code === 'string' && !/^[0-9A-Z]{5}$/.test(code) ? { code } : {}),
    ...safeDbErrorSummary(err),
    stack: framesOf(err)
  }
}

/**
 * pino JSON logs with the request id on every line. Request headers are never
 * serialized (so no Authorization, cookies or idempotency keys), nor bodies
 * (so no agreement text); the redaction list is a second line of defence.
 */
export function loggerOptions(level: string): FastifyServerOptions['logger'] {
  return {
    level,
    redact: {
      paths: ['req.headers.authorization', 'req.headers.cookie', '*.authorization', '*.token', '*.accessToken'],
      censor: '[redacted]'
    },
    serializers: {
      err: describeFailure as never, // pino's type wants a message; leaving it out is the point
      req: (req: { method: string; url: string; ip?: string; routeOptions?: { url?: string } }) => ({
        method: req.method,
        url: safeUrl(req),
        remoteAddress: req.ip
      }),
      res: (res: { statusCode: number }) => ({ statusCode: res.statusCode })
    }
  }
}

type Bindings = Parameters<FastifyBaseLogger['child']>[0]
type ChildLoggerOptions = NonNullable<Parameters<FastifyBaseLogger['child']>[1]>
type LevelCheck = { isLevelEnabled(level: string): boolean }
type Level = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace'
type LogFn = (...args: unknown[]) => void

/**
 * A request's logger, made only when the request first logs at an enabled
 * level. Fastify makes a child logger per request (bound to its request id);
 * with the redaction paths above pino runs the redactor over that binding each
 * time, a tenth of the memory a GET allocated. Most requests log nothing
 * below LOG_LEVEL, so most never need one. Every log line of a request still
 * carries its request id: the child is made, with the same bindings and
 * options, before its first line.
 */
class LazyRequestLogger {
  #parent: FastifyBaseLogger
  #bindings: Bindings
  #options: ChildLoggerOptions
  #child: FastifyBaseLogger | undefined
  constructor(parent: FastifyBaseLogger, bindings: Bindings, options: ChildLoggerOptions) {
    this.#parent = parent
    this.#bindings = bindings
    this.#options = options
  }
  #real(): FastifyBaseLogger {
    this.#child ??= this.#parent.child(this.#bindings, this.#options)
    return this.#child
  }
  // Methods on the prototype, not closures per instance: one object per request, nothing more until it logs.
  #log(level: Level, args: unknown[]): void {
    if (this.#child === undefined && !(this.#parent as unknown as LevelCheck).isLevelEnabled(level)) return
    ;(this.#real()[level] as LogFn)(...args)
  }
  fatal(...args: unknown[]): void {
    this.#log('fatal', args)
  }
  error(...args: unknown[]): void {
    this.#log('error', args)
  }
  warn(...args: unknown[]): void {
    this.#log('warn', args)
  }
  info(...args: unknown[]): void {
    this.#log('info', args)
  }
  debug(...args: unknown[]): void {
    this.#log('debug', args)
  }
  trace(...args: unknown[]): void {
    this.#log('trace', args)
  }
  silent(): void {}
  get level(): string {
    return (this.#child ?? this.#parent).level
  }
  set level(level: string) {
    this.#real().level = level
  }
  child(bindings: Bindings, options?: ChildLoggerOptions): FastifyBaseLogger {
    return this.#real().child(bindings, options)
  }
}

/**
 * Fastify's child logger factory: a route with its own log level or serializers
 * gets its child at once; every other request a LazyRequestLogger.
 */
export function lazyRequestLogger(
  logger: FastifyBaseLogger,
  bindings: Bindings,
  options: ChildLoggerOptions
): FastifyBaseLogger {
  if (options.level !== undefined || options.serializers !== undefined || !('isLevelEnabled' in logger))
    return logger.child(bindings, options)
  return new LazyRequestLogger(logger, bindings, options) as unknown as FastifyBaseLogger
}
