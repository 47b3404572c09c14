import { BlockList, isIP } from 'node:net'
import { DomainError } from '../errors.ts'
import type { DeliveryRow } from './webhook.sql.ts'

/** The event types a webhook may ask for (SPEC §3.6, and `webhook.disabled`), or `*` for every one. */
export const EVENT_TYPES = [
  'partnership.created',
  'partnership.updated',
  'invitation.created',
  'invitation.approved',
  'invitation.revoked',
  'member.joined',
  'member.left',
  'partnership.dissolved',
  'agreement.created',
  'version.drafted',
  'version.proposed',
  'version.signed',
  'version.activated',
  'version.declined',
  'version.withdrawn',
  'version.voided',
  'version.superseded',
  'version.deleted',
  'signature.revoked',
  'agreement.suspended',
  'agreement.retired',
  'review.opened',
  'review.responded',
  'review.completed',
  'review.overdue',
  'incident.reported',
  'incident.acknowledged',
  'incident.disputed',
  'incident.resolved',
  'appreciation.added',
  'webhook.created',
  'webhook.deleted',
  'webhook.disabled'
] as const

/** Live webhooks a partnership may have: each is a stream of signed requests the service keeps sending. */
export const MAX_WEBHOOKS = 10

/**
 * When to try again after the n-th failed attempt (Standard Webhooks' schedule): about 27.6 hours in all,
 * so a receiver down for a day still gets everything. After the last, the delivery is `failed`.
 */
export const RETRY_DELAYS_MS = [5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000] as const

/** A webhook whose deliveries failed without one success for this long is disabled (`webhook.disabled`). */
export const DISABLE_AFTER_MS = 5 * 86_400_000

/** What a receiver's answer may be read of before the connection is dropped. */
export const MAX_RESPONSE_BYTES = 4096

/**
 * The delay before the next attempt after `attempts` failed ones (1 for the first), with ±20 % jitter from
 * `random` (0 ≤ random < 1) so that receivers coming back are not hit by every retry at once; null: no more.
 */
export function retryDelayMs(attempts: number, random: number): number | null {
  const base = RETRY_DELAYS_MS[attempts - 1]
  if (base === undefined) return null
  return Math.round(base * (0.8 + 0.4 * random))
}

/** Whether a webhook failing since `failingSince` has failed long enough to be disabled at `now`. */
export function shouldDisable(failingSince: Date | null, now: Date): boolean {
  return failingSince !== null && now.getTime() - failingSince.getTime() >= DISABLE_AFTER_MS
}

const forbidden = new BlockList()
for (const [net, prefix] of [
  ['0.0.0.0', 8], // "this network", unspecified
  ['10.0.0.0', 8],
  ['100.64.0.0', 10], // CGNAT
  ['127.0.0.0', 8],
  ['169.254.0.0', 16], // link-local (cloud metadata lives here)
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4] // reserved, broadcast
] as const)
  forbidden.addSubnet(net, prefix, 'ipv4')
for (const [net, prefix] of [
  ['::', 96], // unspecified, loopback and the deprecated IPv4-compatible ::a.b.c.d
  ['fc00::', 7], // unique local
  ['fe80::', 10], // link-local
  ['ff00::', 8], // multicast
  ['64:ff9b::', 96], // NAT64: an IPv4 address inside, checked below
  ['2001:db8::', 32]
] as const)
  forbidden.addSubnet(net, prefix, 'ipv6')

/**
 * Why an address must not be called (loopback, private, link-local, CGNAT, multicast, unspecified, IPv6
 * unique-local and link-local, and each of them as an IPv4-mapped or NAT64 IPv6 address), or null when
 * it may be. Not an IP address at all is refused too.
 */
export function forbiddenAddress(address: string): string | null {
  const ip = address.replace(/^\[|\]$/g, '').toLowerCase()
  const family = isIP(ip)
  if (family === 0) return `${address} is not an IP address`
  if (family === 6) {
    // ::ffff:a.b.c.d (or its hex form) is an IPv4 address: judged as one.
    const mapped = /^(?:0{0,4}:){0,5}ffff:(.+)$/.exec(ip) ?? /^64:ff9b::(.+)$/.exec(ip)
    if (mapped) {
      const inner = mapped[1]!
      const v4 = isIP(inner) === 4 ? inner : hexToV4(inner)
      if (v4 !== null) return forbiddenAddress(v4) === null ? null : `${address} maps to a private address`
    }
    return forbidden.check(ip, 'ipv6') ? `${address} is a private, loopback or link-local address` : null
  }
  return forbidden.check(ip, 'ipv4') ? `${address} is a private, loopback or link-local address` : null
}

function hexToV4(tail: string): string | null {
  const m = /^([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(tail)
  if (!m) return null
  const hi = Number.parseInt(m[1]!, 16)
  const lo = Number.parseInt(m[2]!, 16)
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`
}

const refused = (detail: string): DomainError =>
  new DomainError('WEBHOOK_URL_NOT_ALLOWED', detail, { errors: [{ in: 'body', path: '/url', message: detail }] })

/**
 * Checks a webhook URL before anything is resolved: `https:` (or `http:` when private targets are allowed),
 * no credentials, and an IP literal host only if it is a public address. Returns the host to resolve, or
 * null when the host is an IP literal (already checked). Throws WEBHOOK_URL_NOT_ALLOWED.
 */
export function checkWebhookUrl(raw: string, allowPrivate: boolean): { host: string; literal: boolean } {
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    throw refused('the URL is not valid')
  }
  if (url.protocol !== 'https:' && !(allowPrivate && url.protocol === 'http:'))
    throw refused(allowPrivate ? 'the URL must be http: or https:' : 'the URL must be https:')
  if (url.username !== '' || url.password !== '') throw refused('the URL must not carry credentials')
  if (url.hash !== '') throw refused('the URL must not have a #fragment')
  const host = url.hostname.replace(/^\[|\]$/g, '')
  const literal = isIP(host) !== 0
  if (literal && !allowPrivate) {
    const why = forbiddenAddress(host)
    if (why !== null) throw refused(`${why}: webhooks call public addresses only`)
  }
  return { host, literal }
}

/**
 * Throws unless every address a host resolved to is one webhooks may call. The refusal is the same whether the
 * name does not resolve or resolves to a private address, and names no address: the server's view of DNS (its
 * internal names and what they point to) is not for callers to map.
 */
export function assertPublicAddresses(host: string, addresses: readonly string[]): void {
  if (addresses.length === 0 || addresses.some((a) => forbiddenAddress(a) !== null))
    throw refused(`${host} does not resolve to public addresses only: webhooks call public addresses only`)
}

/**
 * The body of a delivery, in the Standard Webhooks shape: ids and types only, never free text (the
 * receiver reads what it needs with its own token). Built the same on every attempt from the stored row.
 */
export function deliveryPayload(
  d: Pick<DeliveryRow, 'partnershipId' | 'eventSeq' | 'eventType' | 'subjectType' | 'subjectId' | 'actorId' | 'eventAt'>
): string {
  return JSON.stringify({
    type: d.eventType,
    timestamp: d.eventAt.toISOString(),
    data: {
      partnershipId: d.partnershipId,
      seq: d.eventSeq,
      eventType: d.eventType,
      subject: { type: d.subjectType, id: d.subjectId },
      actorId: d.actorId
    }
  })
}

/** The `webhook-id` of a delivery: the same on every attempt and replay, so receivers can drop duplicates. */
export const messageId = (deliveryId: string): string => `msg_${deliveryId}`
