import http from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Person } from './agreements.ts'
import type { TestApp } from './app.ts'

/** One request a receiver got: its headers and raw body, and when it arrived. */
export interface Received {
  headers: Record<string, string>
  body: string
  at: number
}

/** How a receiver answers: a status (and body), or nothing at all (hold the request open). */
export type Answer = { status: number; body?: string; headers?: Record<string, string> } | 'hang'

/** A local webhook receiver on 127.0.0.1 (tests set WEBHOOK_ALLOW_PRIVATE=true), answering as `answer` says. */
export async function receiver(
  t: { teardown(fn: () => unknown): void },
  answer: (r: Received, n: number) => Answer = () => ({ status: 204 })
) {
  const received: Received[] = []
  const hanging: http.ServerResponse[] = []
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const r: Received = {
        headers: Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, String(v)])),
        body: Buffer.concat(chunks).toString('utf8'),
        at: Date.now()
      }
      received.push(r)
      const a = answer(r, received.length)
      if (a === 'hang') {
        hanging.push(res)
        return
      }
      res.writeHead(a.status, a.headers ?? {}).end(a.body ?? '')
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`
  t.teardown(async () => {
    for (const res of hanging) res.destroy()
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  })
  return { url, received, server, hanging }
}

/** Webhooks through HTTP. */
export function webhookKit(ctx: TestApp) {
  const webhooksUrl = (pid: string): string => `/v1/partnerships/${pid}/webhooks`
  const create = (by: Person, pid: string, body: unknown, token = by.token) =>
    ctx.request({ method: 'POST', url: webhooksUrl(pid), token, body })
  async function created(by: Person, pid: string, url: string, eventTypes: string[] = ['*']) {
    const res = await create(by, pid, { url, eventTypes })
    if (res.statusCode !== 201) throw new Error(`create webhook: ${res.statusCode} ${res.body}`)
    return res.json() as { id: string; secret: string; url: string; eventTypes: string[] }
  }
  const deliveries = async (by: Person, pid: string, wid: string, query = '') => {
    const res = await ctx.request({
      method: 'GET',
      url: `${webhooksUrl(pid)}/${wid}/deliveries${query}`,
      token: by.token
    })
    if (res.statusCode !== 200) throw new Error(`deliveries: ${res.statusCode} ${res.body}`)
    return res.json() as {
      items: Array<{
        id: string
        eventSeq: number
        eventType: string
        status: string
        nextAttemptAt: string | null
        attempts: Array<{ at: string; statusCode: number | null; latencyMs: number; error: string | null }>
      }>
      nextCursor: string | null
    }
  }
  /** Renames the partnership once per name: one `partnership.updated` event, so one delivery per webhook, each. */
  async function renamed(by: Person, pid: string, names: string[]) {
    for (const name of names) {
      const res = await ctx.request({
        method: 'PATCH',
        url: `/v1/partnerships/${pid}`,
        token: by.token,
        headers: { 'if-match': '*' },
        body: { name }
      })
      if (res.statusCode !== 200) throw new Error(`rename: ${res.statusCode} ${res.body}`)
    }
  }
  return { webhooksUrl, create, created, deliveries, renamed }
}
