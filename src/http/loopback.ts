import type { FastifyRequest } from 'fastify'
import { DomainError } from '../errors.ts'

/** Whether a peer address is this machine's: 127.0.0.0/8 and ::1, also as IPv4-mapped IPv6. */
export function isLoopbackAddress(address: string | undefined): boolean {
  if (address === undefined) return false
  const ip = address.startsWith('::ffff:') ? address.slice(7) : address
  return ip === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(ip)
}

/** Headers a reverse proxy or CDN adds to say it forwarded the request (nginx, Apache, HAProxy, Caddy, Cloudflare…). */
const FORWARDING_HEADERS = [
  'forwarded',
  'x-forwarded-for',
  'x-forwarded-host',
  'x-forwarded-proto',
  'x-real-ip',
  'via',
  'cf-connecting-ip',
  'true-client-ip'
]

/**
 * Refuses, with the 404 an unknown route gets, a request that is not a loopback client's: through a proxy on this
 * machine every client looks local, so a request a proxy says it forwarded is not a loopback client's. A proxy
 * that says nothing (nginx's bare proxy_pass) cannot be told from a local client: README, "Local tokens".
 */
export function loopbackOnly(request: FastifyRequest): void {
  const forwarded = FORWARDING_HEADERS.some((h) => request.headers[h] !== undefined)
  if (forwarded || !isLoopbackAddress(request.socket.remoteAddress))
    throw new DomainError('NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}`)
}
