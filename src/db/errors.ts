/**
 * Classifies driver errors. A lost or refused connection, a server shutting
 * down, too many clients or a statement timeout mean "the database is
 * unavailable" (503, retry later), never a 500.
 */
const unavailableCodes = new Set([
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  'CONNECT_TIMEOUT',
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'EAI_AGAIN',
  '57P01',
  '57P02',
  '57P03',
  '53300',
  '57014',
  '53400'
])

function* causes(err: unknown): Generator<Record<string, unknown>> {
  let current = err
  for (let depth = 0; depth < 8 && current && typeof current === 'object'; depth++) {
    yield current as Record<string, unknown>
    current = (current as { cause?: unknown }).cause
  }
}

export function isDatabaseUnavailable(err: unknown): boolean {
  for (const e of causes(err)) {
    const code = typeof e.code === 'string' ? e.code : ''
    if (unavailableCodes.has(code) || code.startsWith('08')) return true
    if (e instanceof Error && /PGlite is closed/i.test(e.message)) return true
  }
  return false
}

/**
 * The startup parameter a server refused, if that is what the error is: PgBouncer refuses a connection that
 * sends one it does not track, such as the statement_timeout of DATABASE_STATEMENT_TIMEOUT_MS.
 */
export function refusedStartupParameter(err: unknown): string | null {
  for (const e of causes(err)) {
    const found = e instanceof Error ? /unsupported startup parameter: (\S+)/.exec(e.message) : null
    if (found) return found[1] ?? null
  }
  return null
}

/** The PostgreSQL SQLSTATE and constraint of a driver error, if any (for mapping unique violations). */
export function pgErrorOf(err: unknown): { code: string; constraint?: string } | null {
  for (const e of causes(err)) {
    if (typeof e.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code)) {
      const constraint = (e.constraint_name ?? e.constraint) as string | undefined
      return constraint ? { code: e.code, constraint } : { code: e.code }
    }
  }
  return null
}

/**
 * What may be logged of a database error: its SQLSTATE, constraint and table,
 * found through whatever wraps it (drizzle, postgres.js, PGlite). Never a
 * message, parameter, detail or query: drizzle's message lists every parameter,
 * and PostgreSQL's and PGlite's quote the values they refused.
 */
export function safeDbErrorSummary(err: unknown): Record<string, string> {
  const out: Record<string, string> = {}
  for (const e of causes(err)) {
    if (typeof e.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code) && !out.sqlstate) out.sqlstate = e.code
    const constraint = e.constraint_name ?? e.constraint
    if (typeof constraint === 'string' && !out.constraint) out.constraint = constraint
    const table = e.table_name ?? e.table
    if (typeof table === 'string' && !out.table) out.table = table
  }
  return out
}
