import { lookup } from 'node:dns/promises'
import https from 'node:https'
import { createRequire } from 'node:module'
import { isIP } from 'node:net'
import { Webhook } from 'standardwebhooks'
import { forbiddenAddress, MAX_RESPONSE_BYTES, messageId } from './webhook.rules.ts'

/** What one attempt came to: a status (any, 3xx included: redirects are never followed) or an error. */
export interface SendResult {
  ok: boolean
  statusCode: number | null
  latencyMs: number
  error: string | null
}

export interface SendOptions {
  url: string
  secret: string
  deliveryId: string
  body: string
  at: Date
  timeoutMs: number
  allowPrivate: boolean
}

// node:http is required, not imported: an ES import of it reads every export, and reading its WebSocket,
// CloseEvent and MessageEvent loads Node's bundled undici (fetch), which nothing in the server uses: 3 MB of heap
// (bench/README.md). test/architecture/startup-modules.test.ts holds the server free of it.
const http = createRequire(import.meta.url)('node:http') as typeof import('node:http')

const USER_AGENT = 'Accord-Webhooks/1'
const SOCKETS_PER_ORIGIN = 64
const MAX_AGENTS = 1000

// Keep-alive agents by origin: a busy receiver gets its deliveries over a few reused connections. Bounded:
// past MAX_AGENTS origins the oldest agent is closed (its next delivery opens a new one).
const agents = new Map<string, import('node:http').Agent>()
function agentFor(url: URL): import('node:http').Agent {
  let agent = agents.get(url.origin)
  if (agent === undefined) {
    // Every socket a burst opened is kept for the next one (until idle for 30 s): with fewer kept than in use, each
    // burst closed the rest and opened them again.
    const options = {
      keepAlive: true,
      maxSockets: SOCKETS_PER_ORIGIN,
      maxFreeSockets: SOCKETS_PER_ORIGIN,
      timeout: 30_000
    }
    agent = url.protocol === 'https:' ? new https.Agent(options) : new http.Agent(options)
    agents.set(url.origin, agent)
    if (agents.size > MAX_AGENTS) {
      const [oldest, old] = agents.entries().next().value!
      agents.delete(oldest)
      old.destroy()
    }
  }
  return agent
}

/** Closes every kept connection (the worker's stop; tests). */
export function closeAgents(): void {
  for (const agent of agents.values()) agent.destroy()
  agents.clear()
}

class Refused extends Error {}

/**
 * The addresses of a host, every one of them checked: one forbidden address refuses the whole host (a
 * name that resolves to a public and a private address is an attack, not a misconfiguration).
 */
async function vettedAddress(host: string, allowPrivate: boolean): Promise<{ address: string; family: number }> {
  // One refusal, in the same words whether the name does not resolve (ENOTFOUND, EAI_AGAIN…) or resolves to a
  // private address, naming no address: the attempts are partners' to read, and the server's view of DNS (its
  // internal names, a CNAME pointed at them) is not for them to map.
  const refused = new Refused(`refused: ${host} does not resolve to public addresses only`)
  const found =
    isIP(host) !== 0
      ? [{ address: host, family: isIP(host) }]
      : await lookup(host, { all: true }).catch(() => {
          throw refused
        })
  if (found.length === 0) throw refused
  if (!allowPrivate && found.some((a) => forbiddenAddress(a.address) !== null)) throw refused
  return found[0]!
}

/**
 * Sends one signed delivery (Standard Webhooks: `webhook-id`, `webhook-timestamp`, `webhook-signature`)
 * and never throws. The host is resolved and every address checked here, at delivery time, and the
 * connection goes to the very address checked (the request's `lookup` answers it), so DNS cannot be
 * rebound between the check and the connection; Host and SNI stay the host name. Within `timeoutMs` in
 * all; no redirect followed; at most 4 KiB of the answer read, then the connection is dropped.
 */
export async function sendDelivery(o: SendOptions): Promise<SendResult> {
  const started = performance.now()
  const elapsed = () => Math.round(performance.now() - started)
  let timer: NodeJS.Timeout | undefined
  try {
    const url = new URL(o.url)
    const host = url.hostname.replace(/^\[|\]$/g, '')
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Refused(`timed out after ${o.timeoutMs} ms`)), o.timeoutMs)
    })
    const target = await Promise.race([vettedAddress(host, o.allowPrivate), timeout])
    const id = messageId(o.deliveryId)
    const signature = new Webhook(o.secret).sign(id, o.at, o.body)
    const statusCode = await Promise.race([post(url, host, target, id, signature, o, timeout), timeout])
    return { ok: statusCode >= 200 && statusCode < 300, statusCode, latencyMs: elapsed(), error: null }
  } catch (err) {
    return { ok: false, statusCode: null, latencyMs: elapsed(), error: describe(err) }
  } finally {
    clearTimeout(timer)
  }
}

function post(
  url: URL,
  host: string,
  target: { address: string; family: number },
  id: string,
  signature: string,
  o: SendOptions,
  timeout: Promise<never>
): Promise<number> {
  return new Promise((settle, reject) => {
    let done = false
    const resolve = (status: number) => {
      done = true
      settle(status)
    }
    const request = (url.protocol === 'https:' ? https : http).request(
      {
        protocol: url.protocol,
        hostname: host,
        port: url.port === '' ? undefined : Number(url.port),
        path: `${url.pathname}${url.search}`,
        method: 'POST',
        agent: agentFor(url),
        ...(url.protocol === 'https:' && isIP(host) === 0 ? { servername: host } : {}),
        // The address vetted above, whatever DNS answers now.
        lookup: (_hostname, options, callback) => {
          if ((options as { all?: boolean }).all) callback(null, [target] as never, undefined as never)
          else callback(null, target.address, target.family)
        },
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(o.body),
          'user-agent': USER_AGENT,
          'webhook-id': id,
          'webhook-timestamp': String(Math.floor(o.at.getTime() / 1000)),
          'webhook-signature': signature
        }
      },
      (response) => {
        let read = 0
        response.on('data', (chunk: Buffer) => {
          read += chunk.length
          // Enough: the status is what counts; a receiver streaming more loses its connection.
          if (read > MAX_RESPONSE_BYTES) {
            response.destroy()
            resolve(response.statusCode ?? 0)
          }
        })
        response.on('end', () => resolve(response.statusCode ?? 0))
        response.on('error', () => resolve(response.statusCode ?? 0))
        response.on('aborted', () => resolve(response.statusCode ?? 0))
      }
    )
    timeout.catch(() => {
      if (!done) request.destroy()
    })
    request.on('error', reject)
    request.end(o.body)
  })
}

function describe(err: unknown): string {
  if (err instanceof Refused) return err.message
  const e = err as NodeJS.ErrnoException
  const text = e.code ? `${e.code}${e.syscall ? ` (${e.syscall})` : ''}` : String(e.message ?? err)
  return text.slice(0, 200)
}
