import { createRemoteJWKSet, decodeJwt, errors, type JWTPayload, type JWTVerifyGetKey, jwtVerify } from 'jose'
import { LRUCache } from 'lru-cache'
import type { Config } from '../config.ts'
import { DomainError } from '../errors.ts'
import type { ServiceKeys } from '../keys/key.service.ts'
import { SERVICE_ALG } from '../keys/key.service.ts'
import { unstorableText } from '../lib/text.ts'
import { ProblemError } from './problem-catalog.ts'

/** Who a verified token speaks for. `scopes` is null when the token carries no scope (it then has all). */
export interface Principal {
  readonly issuer: string
  readonly subject: string
  readonly name: string | null
  readonly zoneinfo: string | null
  readonly scopes: ReadonlySet<string> | null
  readonly expiresAt: number
  /** `iat` (seconds), when the token has one: a token issued before its account was erased is refused. */
  readonly issuedAt: number | null
}

/** A verified token kept in memory, with the key set generation of its issuer it was verified against. */
interface Verified {
  readonly principal: Principal
  readonly issuer: TrustedKeySet
  readonly generation: number
}

export interface Authenticator {
  verify(token: string): Promise<Principal>
}

interface TrustedKeySet {
  readonly getKey: JWTVerifyGetKey
  /** A remote key set: whether jose's copy is still within its cache age, and the keys it holds now. */
  readonly keySet?: { readonly fresh: boolean; jwks(): unknown }
  /** Moves whenever the keys of this issuer change (a cached token is then checked again). */
  generation: number
  fingerprint: string
  readonly algorithms: string[]
  readonly audience: string | string[]
  readonly remote: boolean
  /** Required JOSE `typ` header, for our own issuer: receipts and checkpoints it signs are never access tokens. */
  readonly typ?: string
}

const MAX_TOKEN_LENGTH = 8192
const CLOCK_TOLERANCE_S = 60

const CACHE_SIZE = 25_000
const challenge = (description: string) => ({
  'www-authenticate': `Bearer realm="accord", error="invalid_token", error_description="${description.replaceAll('"', "'")}"`
})
const invalid = (description: string) =>
  new ProblemError('TOKEN_INVALID', description, { headers: challenge(description) })

/**
 * A jose resource server over the service's own issuer and the trusted external
 * issuers. The issuer is read (unverified) only to choose the key set; the
 * signature, `iss`, `aud`, `exp` (required), `nbf` and the algorithm (pinned per
 * issuer, never taken from the token) are then verified with 60 s tolerance.
 * Keys named in the token's header (`jwk`, `jku`, `x5u`) are never used.
 */
export function createAuthenticator(
  config: Config,
  keys: ServiceKeys,
  now: () => Date = () => new Date()
): Authenticator {
  const issuers = new Map<string, TrustedKeySet>()
  for (const i of config.auth.issuers) {
    const cacheMaxAge = config.auth.jwksCacheMaxAgeMs
    // A token with an unknown kid refetches the keys at most once per cooldown (so forged kids cannot hammer the issuer).
    const remote = createRemoteJWKSet(new URL(i.jwksUri), {
      timeoutDuration: config.auth.jwksTimeoutMs,
      cacheMaxAge,
      cooldownDuration: Math.min(30_000, cacheMaxAge / 4)
    })
    issuers.set(i.issuer, {
      getKey: remote,
      keySet: remote,
      generation: 0,
      fingerprint: '',
      algorithms: i.algorithms ?? ['RS256', 'ES256', 'EdDSA'],
      audience: i.audience ?? config.auth.audience,
      remote: true
    })
  }
  // The service's own issuer is set last, so configuration cannot shadow it. Its keys live as long as the process.
  issuers.set(config.publicUrl, {
    getKey: keys.getKey,
    generation: 0,
    fingerprint: '',
    algorithms: [SERVICE_ALG],
    audience: config.auth.audience,
    remote: false,
    typ: 'JWT'
  })

  // Verified tokens, until they expire: a signature check per request is the hottest CPU cost of a read.
  // Only successes are cached (a token that failed, e.g. not yet valid, is checked again next time).
  // Least recently used out first: the tokens in use stay, whatever number of others pass through.
  // A remote issuer's tokens are served from here only while jose's copy of its keys is fresh and unchanged
  // since they were verified: a key removed from the issuer's JWKS stops its tokens at jose's next reload.
  const verified = new LRUCache<string, Verified>({ max: CACHE_SIZE })

  return {
    async verify(token) {
      const hit = verified.get(token)
      if (
        hit &&
        hit.principal.expiresAt * 1000 > now().getTime() &&
        (hit.issuer.keySet === undefined || (hit.issuer.keySet.fresh && hit.generation === hit.issuer.generation))
      ) {
        return hit.principal
      }
      if (hit) verified.delete(token)
      const { principal, issuer } = await verifyUncached(token)
      verified.set(token, { principal, issuer, generation: issuer.generation })
      return principal
    }
  }

  /** After jose used a remote key set (and may have reloaded it): a change of its keys moves the issuer's generation. */
  function noteKeySet(trusted: TrustedKeySet): void {
    if (trusted.keySet === undefined) return
    const fingerprint = JSON.stringify(trusted.keySet.jwks() ?? null)
    if (fingerprint !== trusted.fingerprint) {
      trusted.fingerprint = fingerprint
      trusted.generation++
    }
  }

  async function verifyUncached(token: string): Promise<{ principal: Principal; issuer: TrustedKeySet }> {
    if (token.length > MAX_TOKEN_LENGTH) throw invalid('token too long')
    let iss: unknown
    try {
      iss = decodeJwt(token).iss
    } catch {
      throw invalid('malformed token')
    }
    const trusted = typeof iss === 'string' ? issuers.get(iss) : undefined
    if (!trusted || typeof iss !== 'string') throw invalid('untrusted issuer')
    let payload: JWTPayload
    try {
      ;({ payload } = await jwtVerify(token, trusted.getKey, {
        issuer: iss,
        audience: trusted.audience,
        algorithms: trusted.algorithms,
        requiredClaims: ['exp', 'sub'],
        clockTolerance: CLOCK_TOLERANCE_S,
        currentDate: now(),
        ...(trusted.typ ? { typ: trusted.typ } : {})
      }))
    } catch (err) {
      throw classify(err, trusted.remote)
    } finally {
      noteKeySet(trusted)
    }
    // jose checks `iat` only against a maximum age: a token minted in the future is refused here.
    if (typeof payload.iat === 'number' && payload.iat > now().getTime() / 1000 + CLOCK_TOLERANCE_S)
      throw invalid('token issued in the future')
    return { principal: toPrincipal(payload, iss), issuer: trusted }
  }
}

function classify(err: unknown, remote: boolean): DomainError {
  if (err instanceof errors.JWTExpired) {
    return new ProblemError('TOKEN_EXPIRED', 'the token has expired', { headers: challenge('token expired') })
  }
  // jose reports a non-200 or unparsable key-set response as a bare JOSEError (ERR_JOSE_GENERIC): an outage too.
  if (
    err instanceof errors.JWKSTimeout ||
    err instanceof errors.JWKSInvalid ||
    (remote && err instanceof errors.JOSEError && err.code === 'ERR_JOSE_GENERIC')
  ) {
    return new DomainError('AUTH_UNAVAILABLE', "the identity provider's keys could not be fetched; retry shortly", {
      cause: err
    })
  }
  if (err instanceof errors.JOSEError)
    return invalid(err.code === 'ERR_JWKS_NO_MATCHING_KEY' ? 'unknown signing key' : 'token rejected')
  // jose lets a failed fetch of a remote key set surface as a plain error: that is an outage, not a bad token.
  if (remote)
    return new DomainError('AUTH_UNAVAILABLE', "the identity provider's keys could not be fetched; retry shortly", {
      cause: err
    })
  return invalid('token rejected')
}

function toPrincipal(payload: JWTPayload, issuer: string): Principal {
  const sub = payload.sub
  // A subject or name the database cannot store would fail every request of this token: refused here, once.
  if (typeof sub !== 'string' || sub.length === 0 || sub.length > 255 || unstorableText(sub) !== null)
    throw invalid('bad subject')
  if (payload.name !== undefined && (typeof payload.name !== 'string' || unstorableText(payload.name) !== null))
    throw invalid('bad name claim')
  let scopes: Set<string> | null = null
  if (payload.scope !== undefined) {
    if (typeof payload.scope !== 'string') throw invalid('scope must be a string')
    scopes = new Set(payload.scope.split(' ').filter(Boolean))
  } else if (payload.scp !== undefined) {
    if (!Array.isArray(payload.scp) || !payload.scp.every((s) => typeof s === 'string'))
      throw invalid('scp must be a list of strings')
    scopes = new Set(payload.scp as string[])
  }
  // At most 100 characters, cut between code points (a cut inside a surrogate pair would leave one unpaired).
  const name =
    typeof payload.name === 'string' && payload.name.trim()
      ? Array.from(payload.name.trim()).slice(0, 100).join('')
      : null
  const zoneinfo = typeof payload.zoneinfo === 'string' ? payload.zoneinfo : null
  const issuedAt = typeof payload.iat === 'number' ? payload.iat : null
  return { issuer, subject: sub, name, zoneinfo, scopes, expiresAt: payload.exp as number, issuedAt }
}
