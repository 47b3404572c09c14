// The harness's HTTP client: every answer becomes a Reply, whatever happened (a status, or no answer
// at all when the process died under the request), with what the checks need to read from it.
import { sleep } from './util.ts'

export interface Reply {
  /** null: no answer (refused, reset by a kill, or our timeout). */
  status: number | null
  /** Why there was no answer. */
  error: string | null
  text: string
  json: any
  etag: string | null
  contentType: string | null
  /** The server says this is the stored first answer of the Idempotency-Key. */
  replayed: boolean
  /** The problem `code` of a problem+json answer. */
  code: string | null
  /** When the request started, in ms of performance.now(), and how long it took. */
  startedAt: number
  ms: number
}

export interface Actor {
  readonly sub: string
  readonly token: string
  readonly id: string
}

export interface RequestOptions {
  token?: string
  body?: unknown
  key?: string | null
  ifMatch?: string | null
  timeoutMs?: number
}

export interface Api {
  readonly base: string
  request(method: string, path: string, options?: RequestOptions): Promise<Reply>
  /** A user with a development token, provisioned by a first GET /v1/me; tokens outlive restarts (the key is in the database). */
  actor(sub: string): Promise<Actor>
}

export const is2xx = (r: { status: number | null }): boolean => r.status !== null && r.status >= 200 && r.status < 300

/** An answer a careful client retries with the same Idempotency-Key: nothing definite happened yet. */
export const isTransient = (r: Reply): boolean =>
  r.status === null ||
  r.status === 503 ||
  r.status === 502 ||
  r.status === 504 ||
  r.status === 429 ||
  (r.status === 409 && r.code === 'idempotency-key-in-use')

export function apiOf(base: string, defaultTimeoutMs = 20_000): Api {
  const actors = new Map<string, Actor>()
  const request = async (method: string, path: string, o: RequestOptions = {}): Promise<Reply> => {
    const headers: Record<string, string> = {}
    if (o.token) headers.authorization = `Bearer ${o.token}`
    if (o.body !== undefined) headers['content-type'] = 'application/json'
    if (o.key) headers['idempotency-key'] = o.key
    if (o.ifMatch) headers['if-match'] = o.ifMatch
    const startedAt = performance.now()
    try {
      const res = await fetch(`${base}${path}`, {
        method,
        headers,
        body: o.body === undefined ? undefined : JSON.stringify(o.body),
        signal: AbortSignal.timeout(o.timeoutMs ?? defaultTimeoutMs)
      })
      const text = await res.text()
      const contentType = res.headers.get('content-type')
      let json: any = null
      if (contentType?.includes('json') && text) {
        try {
          json = JSON.parse(text)
        } catch {}
      }
      return {
        status: res.status,
        error: null,
        text,
        json,
        etag: res.headers.get('etag'),
        contentType,
        replayed: res.headers.get('idempotent-replayed') === 'true',
        code: contentType?.startsWith('application/problem+json') && typeof json?.code === 'string' ? json.code : null,
        startedAt,
        ms: performance.now() - startedAt
      }
    } catch (err) {
      const e = err as Error & { cause?: { code?: string } }
      return {
        status: null,
        error: e.cause?.code ?? e.name,
        text: '',
        json: null,
        etag: null,
        contentType: null,
        replayed: false,
        code: null,
        startedAt,
        ms: performance.now() - startedAt
      }
    }
  }
  return {
    base,
    request,
    async actor(sub) {
      const known = actors.get(sub)
      if (known) return known
      for (let attempt = 0; ; attempt++) {
        const minted = await request('POST', '/v1/dev/tokens', { body: { sub, name: sub.slice(0, 100) } })
        const token = minted.json?.accessToken as string | undefined
        const me = token ? await request('GET', '/v1/me', { token }) : minted
        if (token && me.status === 200) {
          const actor = { sub, token, id: me.json.id as string }
          actors.set(sub, actor)
          return actor
        }
        if (attempt >= 3 || (me.status !== null && !isTransient(me)))
          throw new Error(`could not provision ${sub}: ${me.status ?? me.error} ${me.text.slice(0, 200)}`)
        await sleep(300)
      }
    }
  }
}
