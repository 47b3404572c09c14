import { createRemoteJWKSet, decodeJwt, errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose'
import { LRUCache } from 'lru-cache'
import type { Config } from '../config.ts'
import type { ServiceKeys } from '../keys/key.service.ts'
import { SERVICE_ALG } from '../keys/key.service.ts'
import { DomainError } from './errors.ts'

/** Who a verified token speaks for. `scopes` is null when the token carries no scope (it then has all). */
export interface Principal {
  readonly issuer: string
  readonly subject: string
  readonly name: string | null
  readonly zoneinfo: string | null
  readonly scopes: ReadonlySet<string> | null
  readonly expiresAt: number
}

export interface Authenticator {
  verify(token: string): Promise<Principal>
}

interface TrustedKeySet {
  readonly getKey: JWTVerifyGetKey
  readonly algorithms: string[]
  readonly audience: string | string[]
  readonly remote: boolean
  /** Required JOSE `typ` header, for our own issuer: receipts and checkpoints it signs are never access tokens. */
  readonly typ?: string
}

const MAX_TOKEN_LENGTH = 8192
const CACHE_SIZE = 25_000
const challenge = (description: string) => ({ 'www-authenticate': `Bearer realm="accord", error="invalid_token", error_description="${description.replaceAll('"', "'")}"` })
const invalid = (description: string) => new DomainError('TOKEN_INVALID', description, { headers: challenge(description) })

/**
 * A jose resource server over the service's own issuer and the trusted external
 * issuers. The issuer is read (unverified) only to choose the key set; the
 * signature, `iss`, `aud`, `exp` (required), `nbf` and the algorithm (pinned per
 * issuer, never taken from the token) are then verified with 60 s tolerance.
 * Keys named in the token's header (`jwk`, `jku`, `x5u`) are never used.
 */
export function createAuthenticator (config: Config, keys: ServiceKeys, now: () => Date = () => new Date()): Authenticator {
  const issuers = new Map<string, TrustedKeySet>()
  for (const i of config.auth.issuers) {
    issuers.set(i.issuer, {
      getKey: createRemoteJWKSet(new URL(i.jwksUri), { timeoutDuration: config.auth.jwksTimeoutMs, cooldownDuration: 30_000, cacheMaxAge: 10 * 60_000 }),
      algorithms: i.algorithms ?? ['RS256', 'ES256', 'EdDSA'],
      audience: i.audience ?? config.auth.audience,
      remote: true
    })
  }
  // The service's own issuer is set last, so configuration cannot shadow it.
  issuers.set(config.publicUrl, { getKey: keys.getKey, algorithms: [SERVICE_ALG], audience: config.auth.audience, remote: false, typ: 'JWT' })

  // Verified tokens, until they expire: a signature check per request is the hottest CPU cost of a read.
  // Only successes are cached (a token that failed, e.g. not yet valid, is checked again next time).
  // Least recently used out first: the tokens in use stay, whatever number of others pass through.
  const verified = new LRUCache<string, Principal>({ max: CACHE_SIZE })

  return {
    async verify (token) {
      const hit = verified.get(token)
      if (hit && hit.expiresAt * 1000 > now().getTime()) return hit
      if (hit) verified.delete(token)
      const principal = await verifyUncached(token)
      verified.set(token, principal)
      return principal
    }
  }

  async function verifyUncached (token: string): Promise<Principal> {
    if (token.length > MAX_TOKEN_LENGTH) throw invalid('token too long')
    let iss: unknown
    try { iss = decodeJwt(token).iss } catch { throw invalid('malformed token') }
    const trusted = typeof iss === 'string' ? issuers.get(iss) : undefined
    if (!trusted || typeof iss !== 'string') throw invalid('untrusted issuer')
    let payload: JWTPayload
    try {
      ({ payload } = await jwtVerify(token, trusted.getKey, {
        issuer: iss,
        audience: trusted.audience,
        algorithms: trusted.algorithms,
        requiredClaims: ['exp', 'sub'],
        clockTolerance: 60,
        currentDate: now(),
        ...(trusted.typ ? { typ: trusted.typ } : {})
      }))
    } catch (err) {
      throw classify(err, trusted.remote)
    }
    return toPrincipal(payload, iss)
  }
}

function classify (err: unknown, remote: boolean): DomainError {
  if (err instanceof errors.JWTExpired) {
    return new DomainError('TOKEN_EXPIRED', 'the token has expired', { headers: challenge('token expired') })
  }
  // jose reports a non-200 or unparsable key-set response as a bare JOSEError (ERR_JOSE_GENERIC): an outage too.
  if (err instanceof errors.JWKSTimeout || err instanceof errors.JWKSInvalid || (remote && err instanceof errors.JOSEError && err.code === 'ERR_JOSE_GENERIC')) {
    return new DomainError('AUTH_UNAVAILABLE', 'the identity provider\'s keys could not be fetched; retry shortly', { cause: err })
  }
  if (err instanceof errors.JOSEError) return invalid(err.code === 'ERR_JWKS_NO_MATCHING_KEY' ? 'unknown signing key' : 'token rejected')
  // jose lets a failed fetch of a remote key set surface as a plain error: that is an outage, not a bad token.
  if (remote) return new DomainError('AUTH_UNAVAILABLE', 'the identity provider\'s keys could not be fetched; retry shortly', { cause: err })
  return invalid('token rejected')
}

function toPrincipal (payload: JWTPayload, issuer: string): Principal {
  const sub = payload.sub
  if (typeof sub !== 'string' || sub.length === 0 || sub.length > 255) throw invalid('bad subject')
  let scopes: Set<string> | null = null
  if (payload.scope !== undefined) {
    if (typeof payload.scope !== 'string') throw invalid('scope must be a string')
    scopes = new Set(payload.scope.split(' ').filter(Boolean))
  } else if (payload.scp !== undefined) {
    if (!Array.isArray(payload.scp) || !payload.scp.every((s) => typeof s === 'string')) throw invalid('scp must be a list of strings')
    scopes = new Set(payload.scp as string[])
  }
  const name = typeof payload.name === 'string' && payload.name.trim() ? payload.name.trim().slice(0, 100) : null
  const zoneinfo = typeof payload.zoneinfo === 'string' ? payload.zoneinfo : null
  return { issuer, subject: sub, name, zoneinfo, scopes, expiresAt: payload.exp as number }
}
